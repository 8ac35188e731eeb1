//! `publish-gaming`: publishes what a user is playing (XEP-0196, `urn:xmpp:gaming:0`) to
//! their PEP, as the user, through a privileged IQ (XEP-0356 `iq` permission for
//! `http://jabber.org/protocol/pubsub`, type `set`). Prosody grants it with
//! mod_privilege; ejabberd 23.01 cannot, and the answer then is `feature-not-implemented`
//! naming the missing grant. An empty `name` publishes an empty `<game/>`, which clears
//! it (XEP-0196 §2). Inputs: `jid`, `name`, and optionally `level`, `server_name`,
//! `server_address`, `character_name`, `uri`.

use crate::rights::Platform;

use super::doc::Doc;
use super::execute::{self, target, unreachable, Executed, Input, Outcome, Target};
use super::fields::Spec;
use super::gaming::{pep_granted, publish, NS_PUBSUB};
use super::{Ctx, Flow, Needs, Node, PrivilegedIq};
use crate::failure::Failure;
use crate::rights::uri::{self, UriUse};
use crate::rights::Right;
use crate::xep::forms::DataForm;

pub struct PublishGaming;

/// XEP-0196's elements, in its order, with the longest value accepted.
const FIELDS: &[Spec] = &[
    Spec::text("character_name", "Character").max(100, false),
    Spec::text("level", "Level").max(20, false),
    NAME,
    Spec::text("server_address", "Server address").max(200, false),
    Spec::text("server_name", "Server name").max(100, false),
    Spec::text("uri", "Join link").max(execute::MAX_URI, false),
];

/// The game: needed unless every field is left out (which clears it).
const NAME: Spec = Spec::text("name", "Game").max(100, false);

pub struct PublishGamingQuery {
    input: Input,
    /// `(element, value)` for each given field; empty: clear.
    game: Vec<(&'static str, String)>,
}

impl TryFrom<&DataForm> for PublishGamingQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<PublishGamingQuery, Failure> {
        let input = Input::read(form)?;
        let mut game = Vec::new();
        for spec in FIELDS {
            if let Some(value) = spec.text_of(form)? {
                game.push((spec.var, value));
            }
        }
        if !game.is_empty() && !game.iter().any(|(var, _)| *var == NAME.var) {
            return Err(Failure::bad_request(
                "the form needs the field \"name\" (the game), or no field at all to clear it",
            ));
        }
        Ok(PublishGamingQuery { input, game })
    }
}

impl Node for PublishGaming {
    const NODE: &'static str = "publish-gaming";
    const NAME: &'static str = "Publish what a user is playing";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::PublishGaming);
    type Query = PublishGamingQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Shows what the user is playing (XEP-0196) to their contacts; without `name` and the rest, clears it.",
        input: &[execute::USER, FIELDS[0], FIELDS[1], NAME, FIELDS[3], FIELDS[4], FIELDS[5]],
        answer: execute::ANSWER,
    });

    fn run(
        query: PublishGamingQuery,
        ctx: &mut Ctx<'_, Platform>,
    ) -> Result<Flow<Platform>, Failure> {
        // Other clients read the link from the user's PEP and may open it.
        if let Some((var, link)) = query.game.iter().find(|(var, _)| *var == "uri") {
            let link_use = UriUse::GameLink {
                pages: &ctx.settings.url_schemes,
                launch: execute::launch_schemes(ctx),
            };
            uri::check(link, var, link_use)?;
        }
        let jid = match target(ctx, &query.input, Right::PublishGaming)? {
            Target::Unseen(jid) => return Err(unreachable(&jid)),
            Target::User { jid, .. } => jid,
        };
        if !pep_granted(ctx.directory, jid.as_str()) {
            return Err(Failure::feature_not_implemented(format!(
                "the chat server of {} has not granted this bridge the iq privilege for {NS_PUBSUB} (XEP-0356), so it cannot publish what users play; Prosody grants it in privileged_entities with iq = {{ [\"{NS_PUBSUB}\"] = \"set\" }}; ejabberd 23.01 cannot",
                jid.domain()
            )));
        }
        let clear = query.game.is_empty();
        let payload = publish(&query.game);
        let needs = Needs {
            iq: Some(PrivilegedIq {
                user: jid.clone(),
                set: true,
                payload,
            }),
            ..Needs::default()
        };
        Flow::wait(needs, move |ctx| {
            match ctx.reply {
                Some(Ok(_)) => {}
                Some(Err(failure))
                    if failure.condition
                        == xmpp_parsers::stanza_error::DefinedCondition::Forbidden =>
                {
                    return Err(unreachable(&jid));
                }
                Some(Err(failure)) => return Err(failure.clone()),
                None => return Err(Failure::internal()),
            }
            ctx.disclose(jid.as_str());
            Flow::done(Executed {
                right: Right::PublishGaming,
                jid,
                outcome: if clear {
                    Outcome::Cleared
                } else {
                    Outcome::Published
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};

    #[test]
    fn without_the_pubsub_privilege_it_says_what_is_missing() {
        let bench = Bench::new();
        let ran = bench.run::<PublishGaming>(
            &bench.platform(),
            &[("jid", &[&jid("bob")]), ("name", &["Chess"])],
        );
        assert!(
            ran.failure().text.contains("iq privilege"),
            "{}",
            ran.failure().text
        );
        let nameless = bench.run::<PublishGaming>(
            &bench.platform(),
            &[("jid", &[&jid("bob")]), ("level", &["3"])],
        );
        assert!(nameless
            .failure()
            .text
            .starts_with("the form needs the field \"name\""));
    }
}
