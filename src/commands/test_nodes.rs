//! Nodes that exist only in tests: each is one file's worth of declaration and one
//! registry line, which is the point of the registry.

use crate::rights::Actor;
use minidom::Element;

use super::fields::Spec;
use super::render::{cell, Answer, ResultWriter};
use super::{Ctx, Flow, Needs, Node, Write};
use crate::failure::Failure;

use crate::xep::forms::{DataForm, Field, FieldType, FormType};

/// The answer's fields and columns.
const ECHO: Spec = Spec::new("echo", "Echo", FieldType::TextSingle);
const N: Spec = Spec::new("n", "N", FieldType::TextSingle);

/// Asks for a word, answers with it.
pub struct Echo;

pub struct Word(String);

impl TryFrom<&DataForm> for Word {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<Word, Failure> {
        form.value("word")
            .map(|w| Word(w.to_owned()))
            .ok_or_else(|| Failure::bad_request("the form needs the field \"word\""))
    }
}

struct Echoed(String);

impl Answer for Echoed {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin("urn:test:echo", "Echo");
        out.field(&ECHO, &self.0);
        out.columns(&[N]);
        out.row(&[cell(&N, "1")]);
    }

    fn summary(&self) -> String {
        format!("you said {}", self.0)
    }
}

impl Node for Echo {
    const NODE: &'static str = "test-echo";
    const NAME: &'static str = "Echo (test)";
    type Caller = Actor;
    type Query = Word;

    fn form(_: &Ctx<'_, Actor>) -> Option<DataForm> {
        let mut form = DataForm::new(FormType::Form, Some("urn:test:echo"));
        form.push_field(Field::text_single("word", "Word", None));
        Some(form)
    }

    fn run(query: Word, _: &mut Ctx<'_, Actor>) -> Result<Flow<Actor>, Failure> {
        Flow::done(Echoed(query.0))
    }
}

/// Waits for a user's roster, then stores a value and sends a message: a handler with
/// side effects behind a continuation.
pub struct Remember;

pub struct Remembered {
    user: String,
}

impl TryFrom<&DataForm> for Remembered {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<Remembered, Failure> {
        form.value("user")
            .map(|u| Remembered { user: u.to_owned() })
            .ok_or_else(|| Failure::bad_request("the form needs the field \"user\""))
    }
}

impl Node for Remember {
    const NODE: &'static str = "test-remember";
    const NAME: &'static str = "Remember (test)";
    type Caller = Actor;
    type Query = Remembered;

    fn run(query: Remembered, ctx: &mut Ctx<'_, Actor>) -> Result<Flow<Actor>, Failure> {
        let user = ctx
            .directory
            .id(&query.user)
            .ok_or_else(|| Failure::item_not_found("unknown user"))?;
        Flow::wait(
            Needs {
                roster: Some(user),
                ..Needs::default()
            },
            move |ctx| {
                ctx.out.write(Write::Meta {
                    key: "remembered".to_owned(),
                    value: query.user.clone(),
                });
                let message = Element::builder("message", "jabber:component:accept")
                    .attr(minidom::rxml::xml_ncname!("to").into(), query.user.as_str())
                    .build();
                ctx.out.send(message);
                Flow::done(Echoed(query.user))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};

    #[test]
    fn echo_answers_with_the_word() {
        let bench = Bench::new();
        let anyone = crate::rights::Actor::Stranger {
            jid: std::str::FromStr::from_str("eve@elsewhere.test/x").unwrap(),
        };
        let ran = bench.run::<Echo>(&anyone, &[("word", &["hello"])]);
        assert_eq!(ran.field("echo"), ["hello"]);
        assert_eq!(ran.summary(), "you said hello");
    }

    #[test]
    fn remember_waits_for_the_roster_and_writes_nothing_before() {
        let mut bench = Bench::new();
        bench.online("bob", crate::directory::presence::Availability::Chat, None);
        let anyone = crate::rights::Actor::Stranger {
            jid: std::str::FromStr::from_str("eve@elsewhere.test/x").unwrap(),
        };
        let ran = bench.run::<Remember>(&anyone, &[("user", &[&jid("bob")])]);
        assert!(ran.needs.as_ref().is_some_and(|n| n.roster.is_some()));
        assert!(ran.writes().is_empty() && ran.sent().is_empty());
    }
}
