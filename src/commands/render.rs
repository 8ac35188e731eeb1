//! The one place where a node's typed result becomes what is sent, written as bytes
//! straight into the outgoing buffer (no element tree): a XEP-0004 result form inside
//! the XEP-0050 `<command/>`, or, for platforms that ask for it, the compact payload
//! ([`COMPACT_NS`]); and a plain-text summary for clients that show no tables and for
//! answers in a chat.
//!
//! In the form, every top-level field carries a `label` and a `type` (clients without
//! table support, Profanity among them, show only those; Profanity prints `(null)` for a
//! field without a label, and no value for one without a type), and the summary is the
//! first `<note type='info'/>`, ahead of the form (Profanity shows only the first note).
//! A node's other notes follow the form. The compact payload carries no summary: it is
//! for programs.
//!
//! The whole answer is kept within the chat server's stanza limit: table rows (or
//! compact items) are added while they fit, and a note (or `<left-out/>`) counts the rest.

use super::fields::Spec;
use crate::failure::cut;
use crate::strings::{self, Lang};
use crate::wire::xml::{escaped_len, Xml};
use crate::xep::commands::{NoteType, NS as COMMANDS_NS};
use crate::xep::forms::{FieldType, FORM_TYPE, NS as DATA_NS};

/// The namespace of compact answers, versioned: a change that could break a reader
/// gets a new version.
pub const COMPACT_NS: &str = "urn:xmpp-game-bridge:compact:1";

/// A node's result.
pub trait Answer: Send {
    /// Writes the result form.
    fn write(&self, out: &mut ResultWriter<'_, '_>);
    /// The answer in a sentence or two of plain text.
    fn summary(&self) -> String;
    /// Writes the compact payload and returns `true`, for nodes that have one; the
    /// default has none, and such nodes answer with their form whatever was asked.
    fn compact(&self, _out: &mut CompactWriter<'_, '_>) -> bool {
        false
    }
}

/// The field of a submitted form that asks for a shape of answer (`form`, `compact`).
pub const FORMAT_FIELD: &str = "format";

use crate::rights::platforms::Shape;

/// Room kept in a reply for what follows a table: notes, the closing tags.
const REPLY_OVERHEAD: usize = 8 * 1024;

/// Room always kept for the closing tags and the note counting left-out rows.
const CLOSING: usize = 512;

/// Longest summary sent, in characters; a longer one is cut with `…`.
pub const MAX_SUMMARY_CHARS: usize = 1000;

/// Where the answer goes: the IQ it answers, seen from the requester.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub id: &'a str,
    /// The component's address the request was sent to.
    pub from: &'a str,
    /// The requester.
    pub to: &'a str,
    /// The language of the form's title and labels: the user's, for a user (the words
    /// found in [`strings::FORM_TEXTS`]); English for a platform.
    pub lang: Lang,
}

/// Writes a result form's fields and table rows, within a byte budget: as XML for an
/// ad-hoc command's answer, or as a record of them for a JSON answer ([`json`]).
pub struct ResultWriter<'a, 'b> {
    to: Target<'a, 'b>,
    /// The FORM_TYPE begun, for the check that answers write what they declare.
    #[cfg(test)]
    form_type: String,
}

/// What answers wrote, as `(FORM_TYPE, var)`, for the check that they write only what
/// their nodes declare ([`super::doc`]).
#[cfg(test)]
pub mod written {
    use std::cell::RefCell;

    thread_local! {
        static WRITTEN: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn note(form_type: &str, var: &str) {
        WRITTEN.with(|w| w.borrow_mut().push((form_type.to_owned(), var.to_owned())));
    }

    pub fn take() -> Vec<(String, String)> {
        WRITTEN.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }
}

enum Target<'a, 'b> {
    Xml(XmlForm<'a, 'b>),
    Json(&'a mut json::Record),
}

/// A result form being written as XML.
struct XmlForm<'a, 'b> {
    xml: &'a mut Xml<'b>,
    /// Where this stanza began in the buffer.
    start: usize,
    max_bytes: usize,
    /// The language of the title and labels.
    lang: Lang,
    /// Whether `<x>` is open, and whether the table's `<reported/>` was written.
    begun: bool,
    table: bool,
    /// Notes to write after the form.
    notes: Vec<(NoteType, String)>,
    notes_len: usize,
    left_out: usize,
}

impl ResultWriter<'_, '_> {
    /// Starts the form: its FORM_TYPE, for programs, and its title, for people. Once:
    /// a second call, or one after fields were written, adds nothing.
    pub fn begin(&mut self, form_type: &str, title: &str) {
        #[cfg(test)]
        if self.form_type.is_empty() {
            self.form_type = form_type.to_owned();
        }
        match &mut self.to {
            Target::Xml(form) => form.begin(form_type, title),
            Target::Json(record) => record.begin(form_type, title),
        }
    }

    /// A top-level field with one value (none when `value` is empty).
    pub fn field(&mut self, spec: &Spec, value: &str) {
        self.named_field(spec.var, spec.label, spec.kind, value);
    }

    /// A top-level field with any number of values.
    pub fn fields(&mut self, spec: &Spec, values: &[String]) {
        #[cfg(test)]
        written::note(&self.form_type, spec.var);
        match &mut self.to {
            Target::Xml(form) => form.top_field(spec.var, spec.label, spec.kind, values),
            Target::Json(record) => record.field(spec.var, spec.kind, values),
        }
    }

    /// A top-level field whose name is made as the answer is (a counter of `stats`),
    /// with one value (none when `value` is empty).
    pub fn named_field(&mut self, var: &str, label: &str, type_: FieldType, value: &str) {
        let values: &[&str] = if value.is_empty() { &[] } else { &[value] };
        #[cfg(test)]
        written::note(&self.form_type, var);
        match &mut self.to {
            Target::Xml(form) => form.top_field(var, label, type_, values),
            Target::Json(record) => record.field(var, type_, values),
        }
    }

    /// The table's columns.
    pub fn columns(&mut self, columns: &[Spec]) {
        #[cfg(test)]
        for column in columns {
            written::note(&self.form_type, column.var);
        }
        match &mut self.to {
            Target::Xml(form) => form.columns(columns),
            Target::Json(record) => record.columns(columns),
        }
    }

    /// Adds a row if it fits (and every row before it did). XEP-0004 §3.4 wants every
    /// column in every row: give [`cell`]s for all of them.
    pub fn row(&mut self, cells: &[(&str, Cell<'_>)]) {
        match &mut self.to {
            Target::Xml(form) => form.row(cells),
            Target::Json(record) => record.row(cells),
        }
    }

    /// Adds a note (written after the form) if it fits; `false` (and nothing added) if
    /// it does not.
    pub fn note(&mut self, type_: NoteType, text: impl Into<String>) -> bool {
        match &mut self.to {
            Target::Xml(form) => form.note(type_, text.into()),
            Target::Json(record) => record.note(type_, text.into()),
        }
    }
}

impl XmlForm<'_, '_> {
    fn used(&self) -> usize {
        self.xml.len() - self.start
    }

    fn begin(&mut self, form_type: &str, title: &str) {
        if self.begun {
            return;
        }
        self.open_form();
        self.xml.leaf("title", words(self.lang, title));
        self.xml
            .open("field")
            .attr_plain("var", FORM_TYPE.as_bytes())
            .attr_plain("type", b"hidden")
            .head_end()
            .leaf("value", form_type)
            .close("field");
    }

    /// `<x>`, where anything of the form goes.
    fn open_form(&mut self) {
        if !self.begun {
            self.begun = true;
            self.xml
                .open("x")
                .attr("xmlns", DATA_NS)
                .attr_plain("type", b"result")
                .head_end();
        }
    }

    fn top_field<S: AsRef<str>>(&mut self, var: &str, label: &str, type_: FieldType, values: &[S]) {
        self.open_form();
        self.xml
            .open("field")
            .attr("var", var)
            .attr_plain("type", type_.as_str().as_bytes())
            .attr("label", words(self.lang, label));
        if values.is_empty() {
            self.xml.empty_end();
            return;
        }
        self.xml.head_end();
        for value in values {
            self.xml.leaf("value", value.as_ref());
        }
        self.xml.close("field");
    }

    fn columns(&mut self, columns: &[Spec]) {
        if self.table {
            return;
        }
        self.open_form();
        self.table = true;
        self.xml.open("reported").head_end();
        for column in columns {
            self.xml
                .open("field")
                .attr("var", column.var)
                .attr_plain("type", column.kind.as_str().as_bytes())
                .attr("label", words(self.lang, column.label))
                .empty_end();
        }
        self.xml.close("reported");
    }

    fn row(&mut self, cells: &[(&str, Cell<'_>)]) {
        if self.left_out > 0 {
            self.left_out += 1;
            return;
        }
        self.open_form();
        let mark = self.xml.len();
        self.xml.open("item").head_end();
        for (var, cell) in cells {
            self.xml.open("field").attr("var", var);
            match cell {
                Cell::One("") | Cell::Many([]) => {
                    self.xml.empty_end();
                    continue;
                }
                Cell::One(value) => {
                    self.xml.head_end().leaf("value", value);
                }
                Cell::Many(values) => {
                    self.xml.head_end();
                    for value in *values {
                        self.xml.leaf("value", value);
                    }
                }
            }
            self.xml.close("field");
        }
        self.xml.close("item");
        // The notes already taken are written after the form: they count too.
        if self.used() + self.notes_len > self.max_bytes.saturating_sub(REPLY_OVERHEAD) {
            self.xml.truncate(mark);
            self.left_out = 1;
        }
    }

    fn note(&mut self, type_: NoteType, text: String) -> bool {
        let len = 32 + escaped_len(&text, false);
        if self.used() + self.notes_len + len > self.max_bytes.saturating_sub(CLOSING) {
            return false;
        }
        self.notes_len += len;
        self.notes.push((type_, text));
        true
    }
}

/// A table cell's values.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// One value; for an empty one the field is written without a value.
    One(&'a str),
    /// Any number of values, none included.
    Many(&'a [String]),
}

/// A table cell of `column` with `value` (no value for an empty string).
pub fn cell<'a>(column: &Spec, value: &'a str) -> (&'static str, Cell<'a>) {
    (column.var, Cell::One(value))
}

/// A table cell with several values.
pub fn cells<'a>(column: &Spec, values: &'a [String]) -> (&'static str, Cell<'a>) {
    (column.var, Cell::Many(values))
}

/// Writes a compact payload: one root element, then one item per peer or user, within
/// the byte budget.
pub struct CompactWriter<'a, 'b> {
    xml: &'a mut Xml<'b>,
    start: usize,
    max_bytes: usize,
    /// The root element's name, once opened.
    root: Option<&'static str>,
    left_out: usize,
}

impl<'b> CompactWriter<'_, 'b> {
    /// Opens the root element `name` (in [`COMPACT_NS`]) with `attrs`; empty values are
    /// left out.
    pub fn root(&mut self, name: &'static str, attrs: &[(&str, &str)]) {
        if self.root.is_some() {
            return;
        }
        self.root = Some(name);
        self.xml.open(name).attr("xmlns", COMPACT_NS);
        for (attr, value) in attrs {
            if !value.is_empty() {
                self.xml.attr(attr, value);
            }
        }
        self.xml.head_end();
    }

    /// Adds one item, written by `write`, if it fits (and every item before it did).
    /// Items go in the root: none is written before [`CompactWriter::root`].
    pub fn item(&mut self, write: impl FnOnce(&mut Xml<'b>)) {
        if self.root.is_none() {
            return;
        }
        if self.left_out > 0 {
            self.left_out += 1;
            return;
        }
        let mark = self.xml.len();
        write(self.xml);
        if self.xml.len() - self.start > self.max_bytes.saturating_sub(CLOSING) {
            self.xml.truncate(mark);
            self.left_out = 1;
        }
    }

    fn finish(self) {
        let Some(root) = self.root else { return };
        if self.left_out > 0 {
            self.xml
                .open("left-out")
                .attr_plain("count", self.left_out.to_string().as_bytes())
                .empty_end();
        }
        self.xml.close(root);
    }
}

/// `<name attr='…' …>text</name>`, or `<name …/>` without text: a compact item.
/// Attributes with empty values are left out.
pub fn compact_item(xml: &mut Xml<'_>, name: &str, attrs: &[(&str, &str)], text: &str) {
    xml.open(name);
    for (attr, value) in attrs {
        if !value.is_empty() {
            xml.attr(attr, value);
        }
    }
    if text.is_empty() {
        xml.empty_end();
    } else {
        xml.head_end().text(text).close(name);
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

/// The IQ result carrying the completed `<command/>` with `answer`, in `shape` where
/// the node has it: for the form, the summary first, then the form, then the answer's
/// own notes. Returns the shape written. The caller checks the stanza's size as a whole
/// (see [`crate::wire::Wire::stanza`]); rows are kept within `max_bytes` here.
pub fn completed(
    xml: &mut Xml<'_>,
    reply: Reply<'_>,
    node: &str,
    sessionid: &str,
    answer: &dyn Answer,
    shape: Shape,
    max_bytes: usize,
) -> Shape {
    let start = xml.len();
    xml.open("iq")
        .attr_plain("type", b"result")
        .attr("id", reply.id)
        .attr("from", reply.from)
        .attr("to", reply.to)
        .head_end();
    xml.open("command")
        .attr("xmlns", COMMANDS_NS)
        .attr("node", node)
        .attr("sessionid", sessionid)
        .attr_plain("status", b"completed")
        .head_end();
    let written = write_body(xml, start, answer, shape, max_bytes, reply.lang);
    xml.close("command").close("iq");
    written
}

/// What a completed `<command/>` carries (the summary, the form and its notes, or the
/// compact payload), alone: for front doors other than XMPP. Returns the shape written.
pub fn body(xml: &mut Xml<'_>, answer: &dyn Answer, shape: Shape, max_bytes: usize) -> Shape {
    let start = xml.len();
    write_body(xml, start, answer, shape, max_bytes, Lang::En)
}

fn write_body(
    xml: &mut Xml<'_>,
    start: usize,
    answer: &dyn Answer,
    shape: Shape,
    max_bytes: usize,
    lang: Lang,
) -> Shape {
    if shape == Shape::Compact {
        let mark = xml.len();
        let mut compact = CompactWriter {
            xml,
            start,
            max_bytes,
            root: None,
            left_out: 0,
        };
        if answer.compact(&mut compact) {
            compact.finish();
            return Shape::Compact;
        }
        xml.truncate(mark);
    }
    form(xml, start, answer, max_bytes, lang);
    Shape::Form
}

fn form(xml: &mut Xml<'_>, start: usize, answer: &dyn Answer, max_bytes: usize, lang: Lang) {
    // Profanity 0.13 prints the first note as a printf format: a `%` there would be
    // garbled, or worse. The fullwidth sign reads the same.
    let mut text = summary(answer);
    if text.contains('%') {
        text = text.replace('%', "\u{FF05}");
    }
    note(xml, NoteType::Info, &text);
    let mut writer = ResultWriter {
        #[cfg(test)]
        form_type: String::new(),
        to: Target::Xml(XmlForm {
            xml,
            start,
            max_bytes,
            lang,
            begun: false,
            table: false,
            notes: Vec::new(),
            notes_len: 0,
            left_out: 0,
        }),
    };
    answer.write(&mut writer);
    let Target::Xml(XmlForm {
        xml,
        begun,
        notes,
        left_out,
        ..
    }) = writer.to
    else {
        return;
    };
    if !begun {
        xml.open("x")
            .attr("xmlns", DATA_NS)
            .attr_plain("type", b"result")
            .empty_end();
    } else {
        xml.close("x");
    }
    for (type_, text) in &notes {
        note(xml, *type_, text);
    }
    if left_out > 0 {
        note(
            xml,
            NoteType::Warn,
            &format!(
                "{left_out} rows left out: the whole answer would be larger than the chat server lets the bridge send; ask about fewer users"
            ),
        );
    }
}

/// A title or label in `lang`, where [`strings::FORM_TEXTS`] has it.
fn words(lang: Lang, text: &str) -> &str {
    if lang == Lang::En {
        return text;
    }
    strings::form_text(lang, text).unwrap_or(text)
}

fn note(xml: &mut Xml<'_>, type_: NoteType, text: &str) {
    xml.open("note")
        .attr_plain("type", type_.as_str().as_bytes());
    if text.is_empty() {
        xml.empty_end();
    } else {
        xml.head_end().text(text).close("note");
    }
}

pub mod json;

#[cfg(test)]
mod tests;
