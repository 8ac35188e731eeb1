//! The one place where a node's typed result becomes what is sent: a XEP-0004 result
//! form inside the XEP-0050 `<command/>`, and a plain-text summary for clients that
//! show no tables and for answers in a chat.
//!
//! Every top-level field carries a `label` and a `type` (clients without table
//! support, Profanity among them, show only those; Profanity prints `(null)` for a field
//! without a label, and no value for one without a type), and the summary is the first
//! `<note type='info'/>` (Profanity shows only the first note). The whole answer is kept within the chat server's stanza
//! limit: table rows are added while they fit and a note counts the rest.

use crate::failure::cut;
use crate::xep::commands::{Command, Note, NoteType, Status};
use crate::xep::forms::{escaped_len, DataForm, Field, FieldType, FormType};

/// A node's result.
pub trait Answer: Send {
    /// Writes the result form.
    fn write(&self, out: &mut ResultWriter);
    /// The answer in a sentence or two of plain text.
    fn summary(&self) -> String;
}

/// Room kept in a reply for what surrounds a table: the IQ, the command, the form's
/// own fields and notes.
const REPLY_OVERHEAD: usize = 8 * 1024;

/// Longest summary sent, in characters; a longer one is cut with `…`.
pub const MAX_SUMMARY_CHARS: usize = 1000;

/// Builds a result form within a byte budget.
pub struct ResultWriter {
    form: DataForm,
    notes: Vec<Note>,
    budget: usize,
    used: usize,
    left_out: usize,
}

impl ResultWriter {
    pub fn new(max_reply_bytes: usize) -> ResultWriter {
        ResultWriter {
            form: DataForm::new(FormType::Result, None),
            notes: Vec::new(),
            budget: max_reply_bytes.saturating_sub(REPLY_OVERHEAD),
            used: 0,
            left_out: 0,
        }
    }

    /// Starts the form: its FORM_TYPE, for programs, and its title, for people.
    pub fn begin(&mut self, form_type: &str, title: &str) {
        self.form = DataForm::new(FormType::Result, Some(form_type)).with_title(title);
    }

    /// A top-level field with one value (none when `value` is empty).
    pub fn field(&mut self, var: &str, label: &str, type_: FieldType, value: &str) {
        let values = if value.is_empty() {
            Vec::new()
        } else {
            vec![value.to_owned()]
        };
        self.fields(var, label, type_, values);
    }

    /// A top-level field with any number of values.
    pub fn fields(&mut self, var: &str, label: &str, type_: FieldType, values: Vec<String>) {
        let field = Field {
            var: Some(var.to_owned()),
            type_: Some(type_),
            label: Some(label.to_owned()),
            values,
            ..Field::default()
        };
        self.used += field.wire_len();
        self.form.push_field(field);
    }

    /// The table's columns: `(var, label, type)`.
    pub fn columns(&mut self, columns: &[(&str, &str, FieldType)]) {
        self.form.set_reported(
            columns
                .iter()
                .map(|(var, label, type_)| Field {
                    var: Some((*var).to_owned()),
                    type_: Some(*type_),
                    label: Some((*label).to_owned()),
                    ..Field::default()
                })
                .collect(),
        );
    }

    /// Adds a row if it fits (and every row before it did). XEP-0004 §3.4 wants every
    /// column in every row: give [`cell`]s for all of them.
    pub fn row(&mut self, row: Vec<Field>) {
        let len = 32 + row.iter().map(Field::wire_len).sum::<usize>();
        if self.left_out > 0 || self.used + len > self.budget {
            self.left_out += 1;
        } else {
            self.used += len;
            self.form.push_item(row);
        }
    }

    /// Adds a note if it fits; `false` (and nothing added) if it does not.
    pub fn note(&mut self, type_: NoteType, text: impl Into<String>) -> bool {
        let text = text.into();
        let len = 64 + escaped_len(&text);
        if self.used + len > self.budget {
            return false;
        }
        self.used += len;
        self.notes.push(Note { type_, text });
        true
    }

    fn finish(mut self) -> (DataForm, Vec<Note>) {
        if self.left_out > 0 {
            self.notes.push(Note {
                type_: NoteType::Warn,
                text: format!(
                    "{} rows left out: the whole answer would be larger than the chat server lets the bridge send; ask about fewer users",
                    self.left_out
                ),
            });
        }
        (self.form, self.notes)
    }
}

/// A table cell: `var` with `value`, or with no value when `value` is empty.
pub fn cell(var: &str, value: &str) -> Field {
    Field {
        var: Some(var.to_owned()),
        values: if value.is_empty() {
            Vec::new()
        } else {
            vec![value.to_owned()]
        },
        ..Field::default()
    }
}

/// A table cell with several values.
pub fn cells(var: &str, values: Vec<String>) -> Field {
    Field {
        var: Some(var.to_owned()),
        values,
        ..Field::default()
    }
}

/// The summary as sent: at most [`MAX_SUMMARY_CHARS`] characters.
pub fn summary(answer: &dyn Answer) -> String {
    let text = answer.summary();
    cut(&text, MAX_SUMMARY_CHARS).unwrap_or(text)
}

/// The answer as a chat message's text, for answers to chat words.
pub fn text(answer: &dyn Answer) -> String {
    answer.summary()
}

/// The completed `<command/>` carrying `answer`: the summary first, then the answer's
/// own notes, and the form.
pub fn completed(
    node: &str,
    sessionid: String,
    answer: &dyn Answer,
    max_reply_bytes: usize,
) -> Command {
    let mut writer = ResultWriter::new(max_reply_bytes);
    // Profanity 0.13 prints the first note as a printf format: a `%` there would be
    // garbled, or worse. The fullwidth sign reads the same.
    let mut text = summary(answer);
    if text.contains('%') {
        text = text.replace('%', "\u{FF05}");
    }
    writer.note(NoteType::Info, text);
    answer.write(&mut writer);
    let (form, notes) = writer.finish();
    let mut response = Command::response(node, sessionid, Status::Completed);
    response.form = Some(form);
    response.notes = notes;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rows(usize);

    impl Answer for Rows {
        fn write(&self, out: &mut ResultWriter) {
            out.begin("urn:test:rows", "Rows");
            out.field("count", "Rows", FieldType::TextSingle, &self.0.to_string());
            out.columns(&[("n", "Number", FieldType::TextSingle)]);
            for n in 0..self.0 {
                out.row(vec![cell("n", &"x".repeat(n % 50 + 1))]);
            }
        }

        fn summary(&self) -> String {
            format!("{} rows", self.0)
        }
    }

    #[test]
    fn every_top_level_field_has_a_label_and_a_type_and_the_summary_comes_first() {
        let response = completed("rows", "s1".to_owned(), &Rows(3), 64 * 1024);
        let form = response.form.unwrap();
        for field in form
            .fields
            .iter()
            .filter(|f| f.var.as_deref() != Some("FORM_TYPE"))
        {
            assert!(field.label.is_some() && field.type_.is_some(), "{field:?}");
        }
        assert_eq!(response.notes[0].text, "3 rows");
        assert_eq!(response.notes[0].type_, NoteType::Info);
        assert_eq!(form.items.len(), 3);
    }

    #[test]
    fn rows_that_do_not_fit_are_counted_in_a_note() {
        let response = completed("rows", "s1".to_owned(), &Rows(5000), 16 * 1024);
        let form = response.form.unwrap();
        assert!(form.items.len() < 5000);
        let last = response.notes.last().unwrap();
        assert_eq!(last.type_, NoteType::Warn);
        assert!(last
            .text
            .starts_with(&format!("{} rows left out", 5000 - form.items.len())));
    }
}
