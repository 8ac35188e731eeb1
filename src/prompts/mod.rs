//! Prompts: a question put to a user in their chat client, stored with an id, answered
//! exactly once through any of four ways (a reply word, a listed ad-hoc node, the form
//! in the message, or the user's own command). A platform's consent request is one;
//! game invites are built on the same machinery.
//!
//! The message reads well as plain text and carries, for richer clients, a `<thread>`,
//! the answers as an ad-hoc command list (Cheogram shows buttons), a data form (Psi,
//! Profanity), XEP-0439 quick responses and a stable XEP-0359 `origin-id`.
//!
//! Bounded: at most [`MAX_PENDING`] prompts wait for answers, [`MAX_PER_USER`] per user;
//! past that a new prompt is refused with `resource-constraint`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::store::PromptRecord;
use crate::wire::{Stanza, Xml};
use crate::xep::forms;

/// FORM_TYPE of the form a prompt message carries, and of its submission.
pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:prompt:1";
/// FORM_TYPE of the message that tells a platform the answer to its consent request.
pub const CONSENT_FORM_TYPE: &str = "urn:xmpp-game-bridge:consent:1";
/// Prompts waiting for an answer, in all.
pub const MAX_PENDING: usize = 100_000;
/// Prompts waiting for one user's answer.
pub const MAX_PER_USER: usize = 16;
/// The node prefix of a prompt's answers in the command list: `prompt/<id>/yes`.
pub const NODE_PREFIX: &str = "prompt/";
/// The prompt form's fields, answered back by clients that show it (the `answer`
/// node reads the same).
pub const PROMPT_FIELD: &str = "prompt";
pub const ANSWER_FIELD: &str = "answer";
/// The answer field's first option, chosen until the user picks another: a form
/// submitted as it came answers nothing, so a blind click never agrees.
pub const LATER: &str = "later";

/// A user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Yes,
    No,
}

impl Reply {
    pub fn as_str(self) -> &'static str {
        match self {
            Reply::Yes => "yes",
            Reply::No => "no",
        }
    }

    /// The reply a word means: `yes`, `y`, `accept`, `ok`, `no`, `n`, `decline`, `refuse`.
    pub fn parse(word: &str) -> Option<Reply> {
        match word.to_lowercase().as_str() {
            "yes" | "y" | "accept" | "ok" => Some(Reply::Yes),
            "no" | "n" | "decline" | "refuse" => Some(Reply::No),
            _ => None,
        }
    }
}

/// The prompts waiting for answers.
#[derive(Debug, Default)]
pub struct Prompts {
    /// Boxed: the table stays small, and growing it moves pointers, not records.
    pending: HashMap<String, Box<PromptRecord>>,
    by_user: HashMap<Box<str>, Vec<String>>,
    /// When each prompt expires, soonest first: no sweep over every prompt per input.
    /// Entries of prompts answered meanwhile are skipped when they come up, and dropped
    /// when they outnumber the waiting prompts.
    expiries: BinaryHeap<Reverse<(u32, String)>>,
}

impl Prompts {
    pub fn get(&self, id: &str) -> Option<&PromptRecord> {
        self.pending.get(id).map(|p| &**p)
    }

    /// The prompts waiting for `user`'s answer, oldest first.
    pub fn pending_for(&self, user: &str) -> Vec<&PromptRecord> {
        let mut prompts: Vec<&PromptRecord> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
            .collect();
        prompts.sort_by_key(|p| (p.created_at, p.id.clone()));
        prompts
    }

    /// The prompt of `kind` from `platform` waiting for `user`, if any.
    pub fn between(&self, user: &str, platform: &str, kind: &str) -> Option<&PromptRecord> {
        self.pending_for(user)
            .into_iter()
            .find(|p| p.platform == platform && p.kind == kind)
    }

    /// Whether one more prompt for `user` may wait.
    pub fn has_room_for(&self, user: &str) -> bool {
        self.pending.len() < MAX_PENDING
            && self.by_user.get(user).map_or(0, Vec::len) < MAX_PER_USER
    }

    pub fn insert(&mut self, prompt: PromptRecord) {
        self.expiries
            .push(Reverse((prompt.expires_at, prompt.id.clone())));
        if self.expiries.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.expiries
                .retain(|Reverse((_, id))| pending.contains_key(id) || *id == prompt.id);
        }
        self.by_user
            .entry(prompt.user.as_str().into())
            .or_default()
            .push(prompt.id.clone());
        self.pending.insert(prompt.id.clone(), Box::new(prompt));
    }

    /// Takes a prompt out once it is answered (or expired).
    pub fn remove(&mut self, id: &str) -> Option<PromptRecord> {
        let prompt = *self.pending.remove(id)?;
        if let Some(ids) = self.by_user.get_mut(prompt.user.as_str()) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.by_user.remove(prompt.user.as_str());
            }
        }
        Some(prompt)
    }

    /// The ids of prompts whose time is up at `now` (seconds since the Unix epoch),
    /// soonest first. They stay waiting until [`Prompts::remove`]d.
    pub fn expired(&mut self, now: u32) -> Vec<String> {
        let mut ids = Vec::new();
        while let Some(Reverse((at, _))) = self.expiries.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, id))) = self.expiries.pop() {
                if self.pending.get(&id).is_some_and(|p| p.expires_at <= at) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Puts back the expiry of a prompt whose expiry could not be recorded yet.
    pub fn retry_expiry(&mut self, id: &str, at: u32) {
        self.expiries.push(Reverse((at, id.to_owned())));
    }

    /// When the next prompt expires (perhaps one answered meanwhile: waking for it costs
    /// one empty check).
    pub fn next_expiry(&self) -> Option<u32> {
        self.expiries.peek().map(|Reverse((at, _))| *at)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// What a prompt message says, in plain words.
pub struct Question<'a> {
    pub id: &'a str,
    /// Who is asked (a bare JID).
    pub to: &'a str,
    /// The component's JID.
    pub from: &'a str,
    pub title: &'a str,
    /// The whole text, ending with how to answer. It is the message's body and the
    /// form's instructions: clients that show only one of them show all of it.
    pub body: &'a str,
    /// The answer field's label.
    pub label: &'a str,
    pub yes: &'a str,
    pub no: &'a str,
    /// The neutral first choice ([`LATER`]).
    pub later: &'a str,
    /// The reply words (`yes`/`no`, `accept`/`decline`): the answer nodes and quick
    /// responses use them.
    pub words: (&'a str, &'a str),
    /// The message's language (`xml:lang`), where it is not English.
    pub lang: Option<&'a str>,
    /// Whether the question lasts minutes (a game invitation): the server is asked not
    /// to keep it in users' archives (XEP-0334 `no-permanent-store`; Prosody's mod_mam
    /// follows it), which costs it more than delivering it. Offline storage still keeps
    /// it for a user with no device online.
    pub ephemeral: bool,
}

/// The thread a prompt's message and its answers share.
pub fn thread(id: &str) -> String {
    format!("prompt-{id}")
}

/// The message putting a question to a user, written straight as bytes: invitations
/// go out five at a time, and building their trees first cost more than writing them.
pub fn message(q: &Question<'_>) -> Stanza {
    let thread = thread(q.id);
    let word = |reply: Reply| match reply {
        Reply::Yes => q.words.0,
        Reply::No => q.words.1,
    };
    let answers = [(Reply::Yes, q.yes), (Reply::No, q.no)];
    Stanza::write(|xml| {
        xml.open("message").attr_plain("type", b"chat");
        if let Some(lang) = q.lang {
            xml.attr("xml:lang", lang);
        }
        xml.attr("from", q.from)
            .attr("to", q.to)
            .attr("id", &thread)
            .head_end();
        xml.leaf("body", q.body).leaf("thread", &thread);
        xml.open("query")
            .attr_plain("xmlns", xmpp_parsers::ns::DISCO_ITEMS.as_bytes())
            .attr_plain("node", crate::xep::commands::NODE.as_bytes())
            .head_end();
        for (reply, label) in answers {
            xml.open("item")
                .attr("jid", q.from)
                .attr("name", label)
                .attr("node", &format!("{NODE_PREFIX}{}/{}", q.id, word(reply)))
                .empty_end();
        }
        xml.close("query");
        // The form: a value chosen makes Profanity list the options; the neutral one
        // keeps Psi, which selects the first option, from agreeing on a blind submit.
        xml.open("x")
            .attr_plain("xmlns", forms::NS.as_bytes())
            .attr_plain("type", b"form")
            .head_end();
        xml.leaf("title", q.title).leaf("instructions", q.body);
        hidden(xml, forms::FORM_TYPE, FORM_TYPE);
        hidden(xml, PROMPT_FIELD, q.id);
        xml.open("field")
            .attr("label", q.label)
            .attr_plain("type", b"list-single")
            .attr_plain("var", ANSWER_FIELD.as_bytes())
            .head_end();
        xml.raw(b"<required/>").leaf("value", LATER);
        for (label, value) in [
            (q.later, LATER),
            (q.yes, Reply::Yes.as_str()),
            (q.no, Reply::No.as_str()),
        ] {
            xml.open("option").attr("label", label).head_end();
            xml.leaf("value", value).close("option");
        }
        xml.close("field").close("x");
        for (reply, label) in answers {
            xml.open("response")
                .attr_plain("xmlns", b"urn:xmpp:tmp:quick-response")
                .attr("label", label)
                .attr("value", &format!("{} {}", word(reply), q.id))
                .empty_end();
        }
        xml.open("origin-id")
            .attr_plain("xmlns", b"urn:xmpp:sid:0")
            .attr("id", &thread)
            .empty_end();
        if q.ephemeral {
            xml.raw(b"<no-permanent-store xmlns='urn:xmpp:hints'/>");
        }
        xml.close("message");
    })
}

/// A hidden form field with its value.
fn hidden(xml: &mut Xml<'_>, var: &str, value: &str) {
    xml.open("field")
        .attr_plain("type", b"hidden")
        .attr("var", var)
        .head_end();
    xml.leaf("value", value).close("field");
}

/// Where a new database's id sequence starts, at the least...
pub const FIRST_ID: u64 = 0x10_0000;
/// ...and how far above that it may start.
pub const FIRST_ID_SPREAD: u64 = 0x70_0000;

/// The id numbered `n` (prompts and invites share the sequence, kept in the database):
/// six hex digits below 16,777,216, eight below 2^32, sixteen after. Ids are not
/// secrets (answering checks who answers); consecutive ones keep the database's
/// indexes appending instead of writing pages all over them.
pub fn id(n: u64) -> String {
    if n < 1 << 24 {
        format!("{n:06x}")
    } else if n < 1 << 32 {
        format!("{n:08x}")
    } else {
        format!("{n:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(id: &str, user: &str, at: u32) -> PromptRecord {
        PromptRecord::new(
            id.to_owned(),
            "consent",
            user.to_owned(),
            "arcade@example.test".to_owned(),
            "arcade@example.test/bot".to_owned(),
            at,
            at + 100,
        )
    }

    #[test]
    fn waiting_prompts_by_user_and_by_expiry() {
        let mut prompts = Prompts::default();
        prompts.insert(prompt("b", "alice@x", 20));
        prompts.insert(prompt("a", "alice@x", 10));
        prompts.insert(prompt("c", "bob@x", 5));
        let ids: Vec<&str> = prompts
            .pending_for("alice@x")
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert_eq!(prompts.expired(110), vec!["c", "a"]);
        // Taken from the queue: asked again, nothing new is due.
        assert!(prompts.expired(110).is_empty());
        assert!(prompts.remove("a").is_some());
        assert!(prompts.remove("a").is_none());
        assert_eq!(prompts.pending_for("alice@x").len(), 1);
        assert_eq!(prompts.next_expiry(), Some(120));
        for i in 0..MAX_PER_USER {
            prompts.insert(prompt(&format!("z{i}"), "carol@x", 1));
        }
        assert!(!prompts.has_room_for("carol@x"));
        assert!(prompts.has_room_for("dave@x"));
    }

    #[test]
    fn ids_are_short_hex_and_grow_without_repeating() {
        assert_eq!(id(FIRST_ID), "100000");
        assert_eq!(id((1 << 24) - 1), "ffffff");
        assert_eq!(id(1 << 24), "01000000");
        assert_eq!(id(1 << 32), "0000000100000000");
        let ids: std::collections::HashSet<String> =
            ((1 << 24) - 100..(1 << 24) + 100).map(id).collect();
        assert_eq!(ids.len(), 200);
    }

    #[test]
    fn the_message_carries_every_way_to_answer() {
        let message = message(&Question {
            id: "7f3a01",
            to: "alice@example.test",
            from: "game.example.test",
            title: "Arcade asks to see you",
            body: "Arcade would like to see ... Reply \"yes 7f3a01\" or \"no 7f3a01\".",
            label: "Your answer",
            yes: "Share",
            no: "Do not share",
            later: "Not now",
            words: ("yes", "no"),
            lang: None,
            ephemeral: false,
        });
        let xml = String::from(&message.to_element().expect("well-formed"));
        for piece in [
            "<thread>prompt-7f3a01</thread>",
            "node='prompt/7f3a01/yes'",
            "node='prompt/7f3a01/no'",
            "<field type='hidden' var='prompt'><value>7f3a01</value></field>",
            "<instructions>Arcade would like to see ... Reply \"yes 7f3a01\"",
            "<value>later</value><option label='Not now'><value>later</value></option>",
            "value='yes 7f3a01'",
            "xmlns='urn:xmpp:sid:0' id='prompt-7f3a01'",
        ] {
            assert!(xml.contains(piece), "{piece} missing from {xml}");
        }
    }
}
