//! `launch`: a chat message carrying a URI that starts a designated program (a game
//! client), with readable text. The URI's scheme must be one the platform's registry
//! entry allows (`platform add --launch-schemes`, `platform set-launch-schemes`).
//! Inputs: `jid`, `uri`, `text` (what it starts, optional).

use super::doc::Doc;
use super::execute::{self, deliver, platform_name, target, Input};
use super::fields::Spec;
use super::{Ctx, Flow, Node};
use crate::failure::Failure;
use crate::rights::uri::{self, UriUse};
use crate::rights::Platform;
use crate::rights::Right;
use crate::xep::forms::DataForm;

pub struct Launch;

/// What to start, and what it is.
const URI: Spec = Spec::text("uri", "Launch URI")
    .required()
    .max(execute::MAX_URI, false);
const TEXT: Spec = Spec::text("text", "Text").max(300, false);

pub struct LaunchQuery {
    input: Input,
    uri: String,
    text: Option<String>,
}

impl TryFrom<&DataForm> for LaunchQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<LaunchQuery, Failure> {
        Ok(LaunchQuery {
            input: Input::read(form)?,
            uri: URI.text_of(form)?.unwrap_or_default(),
            text: TEXT.text_of(form)?,
        })
    }
}

impl Node for Launch {
    const NODE: &'static str = "launch";
    const NAME: &'static str = "Start a game on a user's device";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Launch);
    type Query = LaunchQuery;
    const DOC: Option<Doc> = Some(Doc {
        about:
            "Offers a user a link that starts the game (a scheme the operator allows the platform).",
        input: &[execute::USER, URI, TEXT],
        answer: execute::ANSWER,
    });

    fn run(query: LaunchQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let launch = execute::launch_schemes(ctx);
        uri::check(&query.uri, "uri", UriUse::Launch { launch })?;
        let target = target(ctx, &query.input, Right::Launch)?;
        deliver(ctx, target, Right::Launch, |ctx, to| {
            let name = platform_name(ctx);
            let lang = ctx.directory.lang(to.as_str());
            let body = crate::strings::asks_launch(lang, name, query.text.as_deref(), &query.uri);
            execute::message(
                ctx,
                to,
                "chat",
                &body,
                vec![execute::oob(&query.uri, query.text.as_deref())],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::directory::presence::Availability;

    #[test]
    fn a_scheme_the_platform_was_not_given_is_refused() {
        let mut bench = Bench::new();
        bench.online("bob", Availability::Chat, None);
        let bob = jid("bob");
        let steam: [(&str, &[&str]); 2] = [("jid", &[&bob]), ("uri", &["steam://run/42"])];
        let ran = bench.run::<Launch>(&bench.platform(), &steam);
        assert_eq!(
            ran.failure().text,
            "the field \"uri\" is a steam URI; allowed here: none (the operator sets them)"
        );
        assert!(ran.sent().is_empty());
        let mut game = bench.platform();
        game.profile = std::sync::Arc::new(crate::rights::platforms::Profile {
            launch_schemes: vec!["steam".to_owned()],
            ..(*game.profile).clone()
        });
        let ran = bench.run::<Launch>(&game, &steam);
        assert_eq!(ran.field("result"), ["delivered"]);
        assert!(String::from(&ran.sent()[0]).contains("steam://run/42"));
    }
}
