//! A node's answer as JSON, for the HTTP front door: the same result form an ad-hoc
//! command carries (the same fields, rows and notes, written by the same
//! [`Answer::write`]), as one object:
//!
//! ```json
//! {"node": "peers", "form_type": "urn:xmpp-game-bridge:peers:1", "title": "Active peers",
//!  "summary": "…", "fields": {"user": "alice@example.org"},
//!  "items": [{"jid": "bob@example.org", "availability": "chat"}],
//!  "notes": [{"type": "warn", "text": "…"}], "left_out": 0}
//! ```
//!
//! A field's value follows its XEP-0004 type ([`crate::xep::forms::json`]). `items` holds the table's rows, keyed by column, `[]` for an answer without
//! a table. Rows are added while the whole stays within the byte budget; `left_out`
//! counts the rest, and a note says so, as in the form.

use super::{Answer, Cell, ResultWriter, Target, CLOSING, REPLY_OVERHEAD};
use crate::commands::fields::Spec;
use crate::xep::commands::NoteType;
use crate::xep::forms::json::{string, value};
use crate::xep::forms::FieldType;

/// What an answer wrote, as JSON fragments.
#[derive(Default)]
pub struct Record {
    form_type: Option<(String, String)>,
    /// The members of `fields`, comma-separated.
    fields: Vec<u8>,
    columns: Vec<(&'static str, FieldType)>,
    /// The elements of `items`, comma-separated.
    items: Vec<u8>,
    notes: Vec<(NoteType, String)>,
    notes_len: usize,
    left_out: usize,
    max_bytes: usize,
}

impl Record {
    fn used(&self) -> usize {
        self.fields.len() + self.items.len() + self.notes_len
    }

    pub(super) fn begin(&mut self, form_type: &str, title: &str) {
        if self.form_type.is_none() {
            self.form_type = Some((form_type.to_owned(), title.to_owned()));
        }
    }

    pub(super) fn field<S: AsRef<str>>(&mut self, var: &str, kind: FieldType, values: &[S]) {
        if !self.fields.is_empty() {
            self.fields.push(b',');
        }
        string(&mut self.fields, var);
        self.fields.push(b':');
        value(&mut self.fields, kind, values);
    }

    pub(super) fn columns(&mut self, columns: &[Spec]) {
        if self.columns.is_empty() {
            self.columns = columns.iter().map(|c| (c.var, c.kind)).collect();
        }
    }

    pub(super) fn row(&mut self, cells: &[(&str, Cell<'_>)]) {
        if self.left_out > 0 {
            self.left_out += 1;
            return;
        }
        let mark = self.items.len();
        if mark > 0 {
            self.items.push(b',');
        }
        self.items.push(b'{');
        for (n, (var, cell)) in cells.iter().enumerate() {
            if n > 0 {
                self.items.push(b',');
            }
            string(&mut self.items, var);
            self.items.push(b':');
            let kind = self
                .columns
                .iter()
                .find(|(column, _)| column == var)
                .map_or(FieldType::TextSingle, |(_, kind)| *kind);
            match cell {
                Cell::One("") => value::<&str>(&mut self.items, kind, &[]),
                Cell::One(one) => value(&mut self.items, kind, &[one]),
                Cell::Many(values) => value(&mut self.items, FieldType::TextMulti, values),
            }
        }
        self.items.push(b'}');
        if self.used() > self.max_bytes.saturating_sub(REPLY_OVERHEAD) {
            self.items.truncate(mark);
            self.left_out = 1;
        }
    }

    pub(super) fn note(&mut self, type_: NoteType, text: String) -> bool {
        let len = 32 + text.len() * 2;
        if self.used() + len > self.max_bytes.saturating_sub(CLOSING) {
            return false;
        }
        self.notes_len += len;
        self.notes.push((type_, text));
        true
    }
}

/// `answer` of `node` as a JSON object, its rows kept within `max_bytes`.
pub fn json(node: &str, answer: &dyn Answer, max_bytes: usize) -> String {
    json_with(node, answer, &super::summary(answer), max_bytes)
}

/// [`json`], with the summary already made.
pub fn json_with(node: &str, answer: &dyn Answer, summary: &str, max_bytes: usize) -> String {
    let mut record = Record {
        max_bytes,
        ..Record::default()
    };
    answer.write(&mut ResultWriter {
        to: Target::Json(&mut record),
        #[cfg(test)]
        form_type: String::new(),
    });
    let Record {
        form_type,
        fields,
        items,
        mut notes,
        left_out,
        ..
    } = record;
    if left_out > 0 {
        notes.push((
            NoteType::Warn,
            format!("{left_out} rows left out: the whole answer would be larger than the bridge sends at once; ask about fewer users"),
        ));
    }
    let mut out = Vec::with_capacity(fields.len() + items.len() + 256);
    out.extend_from_slice(b"{\"node\":");
    string(&mut out, node);
    if let Some((form_type, title)) = &form_type {
        out.extend_from_slice(b",\"form_type\":");
        string(&mut out, form_type);
        out.extend_from_slice(b",\"title\":");
        string(&mut out, title);
    }
    out.extend_from_slice(b",\"summary\":");
    string(&mut out, summary);
    out.extend_from_slice(b",\"fields\":{");
    out.extend_from_slice(&fields);
    out.extend_from_slice(b"},\"items\":[");
    out.extend_from_slice(&items);
    out.extend_from_slice(b"],\"notes\":[");
    for (n, (type_, text)) in notes.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":");
        string(&mut out, type_.as_str());
        out.extend_from_slice(b",\"text\":");
        string(&mut out, text);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"left_out\":");
    out.extend_from_slice(left_out.to_string().as_bytes());
    out.push(b'}');
    // Only whole strings and ASCII punctuation were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::render::{cell, cells};
    use serde_json::{json, Value};

    const USER: Spec = Spec::new("user", "User", FieldType::JidSingle);
    const SHARES: Spec = Spec::new("shares", "Shares", FieldType::Boolean);
    const TAGS: Spec = Spec::new("tags", "Tags", FieldType::ListMulti);
    const JID: Spec = Spec::new("jid", "JID", FieldType::JidSingle);
    const GAMES: Spec = Spec::new("games", "Games", FieldType::TextMulti);

    struct Table(usize);

    impl Answer for Table {
        fn write(&self, out: &mut ResultWriter<'_, '_>) {
            out.begin("urn:test:table:1", "Table");
            out.field(&USER, "alice@example.test");
            out.field(&SHARES, "1");
            out.fields(&TAGS, &["a\"b".to_owned(), "ü".to_owned()]);
            out.columns(&[JID, GAMES]);
            let games = ["chess".to_owned()];
            for n in 0..self.0 {
                let jid = format!("peer{n}@example.test");
                out.row(&[cell(&JID, &jid), cells(&GAMES, &games)]);
            }
            out.note(NoteType::Info, "a note with \u{1} in it");
        }

        fn summary(&self) -> String {
            format!("{} rows", self.0)
        }
    }

    #[test]
    fn an_answer_reads_as_json_typed_by_its_fields() {
        let text = json("table", &Table(2), 64 * 1024);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "node": "table",
                "form_type": "urn:test:table:1",
                "title": "Table",
                "summary": "2 rows",
                "fields": {"user": "alice@example.test", "shares": true, "tags": ["a\"b", "ü"]},
                "items": [
                    {"jid": "peer0@example.test", "games": ["chess"]},
                    {"jid": "peer1@example.test", "games": ["chess"]},
                ],
                "notes": [{"type": "info", "text": "a note with \u{1} in it"}],
                "left_out": 0,
            })
        );
    }

    #[test]
    fn rows_past_the_budget_are_counted_and_said() {
        let max = 16 * 1024;
        let text = json("table", &Table(2000), max);
        assert!(text.len() <= max, "{} bytes", text.len());
        let value: Value = serde_json::from_str(&text).unwrap();
        let kept = value["items"].as_array().unwrap().len();
        let left_out = value["left_out"].as_u64().unwrap() as usize;
        assert!(kept > 10, "{kept} rows kept");
        assert_eq!(kept + left_out, 2000);
        let last = value["notes"].as_array().unwrap().last().unwrap();
        assert_eq!(last["type"], "warn");
        assert!(last["text"]
            .as_str()
            .unwrap()
            .starts_with(&left_out.to_string()));
    }

    /// An answer without a form, and a boolean without a value.
    struct Bare;

    impl Answer for Bare {
        fn write(&self, out: &mut ResultWriter<'_, '_>) {
            out.field(&SHARES, "");
        }
        fn summary(&self) -> String {
            "done".to_owned()
        }
    }

    #[test]
    fn an_answer_without_a_form_type_or_table_still_has_every_member() {
        let value: Value = serde_json::from_str(&json("bare", &Bare, 64 * 1024)).unwrap();
        assert_eq!(
            value,
            json!({"node": "bare", "summary": "done", "fields": {"shares": false}, "items": [], "notes": [], "left_out": 0})
        );
    }
}
