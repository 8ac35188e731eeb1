//! `send-message`: a chat message to a user who is online, from the component, with the
//! platform's name in the text. Inputs: `jid`, `text` (at most 1,000 characters; line
//! breaks allowed).

use super::doc::Doc;
use super::execute::{self, deliver, platform_name, target, Input};
use super::fields::Spec;
use super::{Ctx, Flow, Node};
use crate::failure::Failure;
use crate::rights::Platform;
use crate::rights::Right;
use crate::xep::forms::DataForm;

pub struct SendMessage;

/// The message, lines allowed.
const TEXT: Spec = Spec::text("text", "Text").required().max(1000, true);

pub struct SendMessageQuery {
    input: Input,
    text: String,
}

impl TryFrom<&DataForm> for SendMessageQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<SendMessageQuery, Failure> {
        Ok(SendMessageQuery {
            input: Input::read(form)?,
            text: TEXT.text_of(form)?.unwrap_or_default(),
        })
    }
}

impl Node for SendMessage {
    const NODE: &'static str = "send-message";
    const NAME: &'static str = "Send a user a chat message";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::SendMessage);
    type Query = SendMessageQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Sends a user a chat message from the platform.",
        input: &[execute::USER, TEXT],
        answer: execute::ANSWER,
    });

    fn run(
        query: SendMessageQuery,
        ctx: &mut Ctx<'_, Platform>,
    ) -> Result<Flow<Platform>, Failure> {
        let target = target(ctx, &query.input, Right::SendMessage)?;
        deliver(ctx, target, Right::SendMessage, |ctx, to| {
            let body = format!("{}: {}", platform_name(ctx), query.text);
            execute::message(ctx, to, "chat", &body, Vec::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};

    #[test]
    fn sends_nothing_to_an_offline_user_and_says_so() {
        let bench = Bench::new();
        let ran = bench.run::<SendMessage>(
            &bench.platform(),
            &[("jid", &[&jid("dave")]), ("text", &["hi"])],
        );
        assert_eq!(ran.field("result"), ["offline"]);
        assert!(ran.sent().is_empty());
        assert!(ran.disclosed().is_empty());
        let empty = bench.run::<SendMessage>(&bench.platform(), &[("jid", &[&jid("dave")])]);
        assert_eq!(empty.failure().text, "the form needs the field \"text\"");
    }
}
