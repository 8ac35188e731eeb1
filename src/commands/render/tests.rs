use super::*;
use crate::commands::fields::Spec;
use crate::wire::{parse_stanza, Wire};
use crate::xep::commands::Command;
use crate::xep::forms::DataForm;
use minidom::Element;

/// The answer's fields and columns.
const COUNT: Spec = Spec::new("count", "Rows", FieldType::TextSingle);
const A: Spec = Spec::new("a", "A", FieldType::TextSingle);
const N: Spec = Spec::new("n", "Number", FieldType::TextSingle);

struct Rows(usize);

impl Answer for Rows {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin("urn:test:rows", "Rows");
        out.field(&COUNT, &self.0.to_string());
        out.columns(&[N]);
        for n in 0..self.0 {
            out.row(&[cell(&N, &"x".repeat(n % 50 + 1))]);
        }
    }

    fn summary(&self) -> String {
        format!("{} rows", self.0)
    }

    fn compact(&self, out: &mut CompactWriter<'_, '_>) -> bool {
        out.root("rows", &[("count", &self.0.to_string()), ("empty", "")]);
        for n in 0..self.0 {
            out.item(|xml| compact_item(xml, "row", &[("n", &n.to_string())], "x < y"));
        }
        true
    }
}

const REPLY: Reply<'static> = Reply {
    id: "q1",
    from: "game.example.test",
    to: "arcade@example.test/engine",
    lang: crate::strings::Lang::En,
};

/// The answer as the server reads it: one stanza, parsed back.
fn answer(answer: &dyn Answer, shape: Shape, max: usize) -> (Element, Shape) {
    let mut wire = Wire::new(max);
    let mut written = None;
    wire.stanza(|xml| {
        written = Some(completed(xml, REPLY, "rows", "s1", answer, shape, max));
    })
    .unwrap();
    assert_eq!(wire.len(), 1);
    let text = std::str::from_utf8(wire.bytes()).unwrap();
    (parse_stanza(text).unwrap(), written.unwrap())
}

fn command(iq: &Element) -> Command {
    let el = iq.get_child("command", COMMANDS_NS).unwrap();
    Command::try_from(el).unwrap()
}

#[test]
fn every_top_level_field_has_a_label_and_a_type_and_the_summary_comes_first() {
    let (iq, shape) = answer(&Rows(3), Shape::Form, 64 * 1024);
    assert_eq!(shape, Shape::Form);
    assert_eq!(iq.attr("type"), Some("result"));
    assert_eq!(iq.attr("id"), Some("q1"));
    assert_eq!(iq.attr("to"), Some("arcade@example.test/engine"));
    let response = command(&iq);
    assert_eq!(response.sessionid.as_deref(), Some("s1"));
    let form = response.form.unwrap();
    for field in form
        .fields
        .iter()
        .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
    {
        assert!(field.label.is_some() && field.type_.is_some(), "{field:?}");
    }
    assert_eq!(form.form_type(), Some("urn:test:rows"));
    assert_eq!(response.notes[0].text, "3 rows");
    assert_eq!(response.notes[0].type_, NoteType::Info);
    assert_eq!(form.items.len(), 3);
    let first = iq.get_child("command", COMMANDS_NS).unwrap();
    assert_eq!(first.children().next().unwrap().name(), "note");
}

#[test]
fn rows_that_do_not_fit_are_counted_in_a_note() {
    let (iq, _) = answer(&Rows(5000), Shape::Form, 16 * 1024);
    let response = command(&iq);
    let form = response.form.unwrap();
    assert!(form.items.len() < 5000);
    assert!(!form.items.is_empty());
    let last = response.notes.last().unwrap();
    assert_eq!(last.type_, NoteType::Warn);
    assert!(last
        .text
        .starts_with(&format!("{} rows left out", 5000 - form.items.len())));
}

#[test]
fn a_compact_answer_has_no_form_and_omits_empty_values() {
    let (iq, shape) = answer(&Rows(2), Shape::Compact, 64 * 1024);
    assert_eq!(shape, Shape::Compact);
    let command = iq.get_child("command", COMMANDS_NS).unwrap();
    assert!(command.get_child("x", DATA_NS).is_none());
    assert!(command.get_child("note", COMMANDS_NS).is_none());
    let rows = command.get_child("rows", COMPACT_NS).unwrap();
    assert_eq!(rows.attr("count"), Some("2"));
    assert_eq!(rows.attr("empty"), None);
    let items: Vec<&Element> = rows.children().collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].attr("n"), Some("1"));
    assert_eq!(items[1].text(), "x < y");
}

#[test]
fn compact_items_that_do_not_fit_are_counted() {
    let (iq, _) = answer(&Rows(5000), Shape::Compact, 16 * 1024);
    let rows = iq
        .get_child("command", COMMANDS_NS)
        .and_then(|c| c.get_child("rows", COMPACT_NS))
        .unwrap();
    let kept = rows.children().filter(|c| c.name() == "row").count();
    let left_out = rows.get_child("left-out", COMPACT_NS).unwrap();
    assert_eq!(
        left_out.attr("count"),
        Some((5000 - kept).to_string().as_str())
    );
}

struct FormOnly;

impl Answer for FormOnly {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin("urn:test:plain", "Plain");
        out.field(&A, "it's <b> & 100%");
        assert!(out.note(NoteType::Warn, "after"));
    }

    fn summary(&self) -> String {
        "100% done".to_owned()
    }
}

#[test]
fn a_node_without_a_compact_shape_answers_with_its_form() {
    let (iq, shape) = answer(&FormOnly, Shape::Compact, 64 * 1024);
    assert_eq!(shape, Shape::Form);
    let response = command(&iq);
    let form: DataForm = response.form.unwrap();
    assert_eq!(form.value("a"), Some("it's <b> & 100%"));
    // The summary first (its `%` made harmless for Profanity), the node's note after.
    assert_eq!(response.notes[0].text, "100\u{FF05} done");
    assert_eq!(response.notes[1].text, "after");
}

/// A table whose every row comes with a note, as `status` gives one per user of a server
/// it does not serve.
struct NotedRows(usize);

impl Answer for NotedRows {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin("urn:test:noted", "Noted");
        out.columns(&[N]);
        for n in 0..self.0 {
            out.note(NoteType::Warn, format!("{n}: {}", "w".repeat(200)));
            out.row(&[cell(&N, &n.to_string())]);
        }
    }

    fn summary(&self) -> String {
        "noted".to_owned()
    }
}

#[test]
fn rows_and_the_notes_that_come_with_them_stay_within_the_limit_together() {
    let max = 16 * 1024;
    let mut wire = Wire::new(max);
    let written = wire.stanza(|xml| {
        completed(xml, REPLY, "noted", "s1", &NotedRows(500), Shape::Form, max);
    });
    assert!(
        written.is_ok(),
        "the answer went over the limit: {written:?}"
    );
    let back = parse_stanza(std::str::from_utf8(wire.bytes()).unwrap()).unwrap();
    let response = command(&back);
    let rows = response.form.unwrap().items.len();
    assert!(rows > 0 && rows < 500, "{rows}");
    let last = response.notes.last().unwrap();
    assert!(
        last.text
            .starts_with(&format!("{} rows left out", 500 - rows)),
        "{}",
        last.text
    );
}
