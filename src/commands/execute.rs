//! What the executable rights (`open-url`, `send-message`, `set-status`, `attention`,
//! `launch`) share: finding the user and asking the policy, checking inputs, building
//! the message, and the answer that says what happened.
//!
//! A user the platform may not see is treated exactly as a user the bridge never heard
//! of: under `opt-in` both are refused with the same text; under `opt-out` both get
//! the answer an offline user gets, and nothing is done.

use minidom::rxml::xml_ncname;
use minidom::Element;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::served::served_user;
use super::Ctx;
use crate::directory::Seen;
use crate::failure::{quote, Failure};
use crate::rights::policy::{self, Decision, Denial, Subject};
use crate::rights::{Platform, Right};
use crate::xep::forms::DataForm;

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:right:1";

/// The user a right is for: the form's field, and the answer's.
pub const USER: Spec = Spec::jid("jid", "User")
    .required()
    .purpose("the user it is for");
/// The answer's right and what became of it.
pub const RIGHT: Spec = Spec::text("right", "Right");
pub const RESULT: Spec = Spec::text("result", "Result");

/// The answer of every executable right.
pub const ANSWER: super::doc::AnswerDoc = super::doc::AnswerDoc {
    form_type: FORM_TYPE,
    title: "Right executed",
    fields: &[USER, RIGHT, RESULT],
    columns: &[],
};

/// Who an executed right reaches.
pub enum Target {
    /// A user the platform may reach; `online` if the directory has them online.
    User { jid: BareJid, online: bool },
    /// A user the platform may not see, under `opt-out`: answered as an offline user the
    /// bridge never heard of would be, and nothing is done.
    Unseen(BareJid),
}

/// The text refusing a user a platform may not reach, the same whether or not they exist.
pub fn unreachable(jid: &BareJid) -> Failure {
    Failure::item_not_found(format!(
        "{} cannot be reached by this platform: there is no such user, or they do not share with it",
        quote(jid.as_str())
    ))
}

/// The user of the `jid` field, if the asking platform may make `right` happen for them.
pub fn target(ctx: &Ctx<'_, Platform>, form: &Input, right: Right) -> Result<Target, Failure> {
    let jid = served_user(&form.jid, ctx.directory, &[])?;
    let visible = ctx.visible(jid.as_str());
    let subject = Subject {
        consenting: visible,
        remote: false,
    };
    match policy::decide(ctx.caller, right, subject) {
        Decision::Allow => {
            let online = matches!(
                ctx.directory
                    .seen_by_name(jid.as_str(), crate::directory::unix_secs(ctx.now)),
                Seen::Online { .. }
            );
            Ok(Target::User { jid, online })
        }
        Decision::Deny(Denial::NotGranted) => Err(Failure::forbidden(format!(
            "this platform does not hold the right \"{}\" here; the operator grants rights with \"xmpp-game-bridge platform set-rights\"",
            right.as_str()
        ))),
        Decision::Deny(Denial::NoConsent) if ctx.consent.by_default() => Ok(Target::Unseen(jid)),
        Decision::Deny(Denial::NoConsent | Denial::RemoteUser) => Err(unreachable(&jid)),
    }
}

/// The user field every right's form has.
pub struct Input {
    pub jid: String,
}

impl Input {
    pub fn read(form: &DataForm) -> Result<Input, Failure> {
        Ok(Input {
            jid: USER.require(form)?.to_owned(),
        })
    }
}

pub use crate::rights::uri::MAX_URI;

/// The URI schemes the asking platform's `launch` may use.
pub fn launch_schemes<'a>(ctx: &Ctx<'a, Platform>) -> &'a [String] {
    &ctx.caller.profile.launch_schemes
}

/// The name of the asking platform, as users read it.
pub fn platform_name<'a>(ctx: &Ctx<'a, Platform>) -> &'a str {
    &ctx.caller.profile.name
}

/// A chat message from the component to `to` with `body` and `extra` payloads.
pub fn message(
    ctx: &Ctx<'_, Platform>,
    to: &BareJid,
    type_: &str,
    body: &str,
    extra: Vec<Element>,
) -> Element {
    let ns = crate::wire::STREAM_NS;
    let mut message = Element::builder("message", ns)
        .attr(xml_ncname!("type").into(), type_)
        .attr(xml_ncname!("from").into(), ctx.component.as_str())
        .attr(xml_ncname!("to").into(), to.as_str())
        .append(Element::builder("body", ns).append(body).build());
    for payload in extra {
        message = message.append(payload);
    }
    message.build()
}

/// XEP-0066 out-of-band data: the page, and what it is.
pub fn oob(url: &str, desc: Option<&str>) -> Element {
    let mut x =
        Element::builder("x", ns::OOB).append(Element::builder("url", ns::OOB).append(url).build());
    if let Some(desc) = desc {
        x = x.append(Element::builder("desc", ns::OOB).append(desc).build());
    }
    x.build()
}

/// What became of an executed right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the chat server for a user who is online.
    Delivered,
    /// The user is offline: nothing was sent.
    Offline,
    /// Stored (a status).
    Set,
    Cleared,
    /// Published to the user's PEP.
    Published,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Offline => "offline",
            Outcome::Set => "set",
            Outcome::Cleared => "cleared",
            Outcome::Published => "published",
        }
    }
}

/// The answer of an executed right.
pub struct Executed {
    pub right: Right,
    pub jid: BareJid,
    pub outcome: Outcome,
}

impl Answer for Executed {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Right executed");
        out.field(&USER, self.jid.as_str());
        out.field(&RIGHT, self.right.as_str());
        out.field(&RESULT, self.outcome.as_str());
    }

    fn summary(&self) -> String {
        match self.outcome {
            Outcome::Offline => format!(
                "{} is offline: {} was not sent",
                self.jid,
                self.right.as_str()
            ),
            outcome => format!(
                "{} {} for {}",
                self.right.as_str(),
                outcome.as_str(),
                self.jid
            ),
        }
    }
}

/// Sends `message` to an online target (recorded as a disclosure) and answers
/// `delivered`, or answers `offline` and sends nothing.
pub fn deliver(
    ctx: &mut Ctx<'_, Platform>,
    target: Target,
    right: Right,
    message: impl FnOnce(&Ctx<'_, Platform>, &BareJid) -> Element,
) -> Result<super::Flow<Platform>, Failure> {
    let (jid, outcome) = match target {
        Target::User { jid, online: true } => {
            let message = message(ctx, &jid);
            ctx.out.send(message);
            ctx.disclose(jid.as_str());
            (jid, Outcome::Delivered)
        }
        Target::User { jid, online: false } | Target::Unseen(jid) => (jid, Outcome::Offline),
    };
    super::Flow::done(Executed {
        right,
        jid,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use crate::commands::attention::Attention;
    use crate::commands::launch::Launch;
    use crate::commands::open_url::OpenUrl;
    use crate::commands::send_message::SendMessage;
    use crate::commands::set_status::SetStatus;
    use crate::commands::testkit::{jid, Bench, Ran};
    use crate::directory::presence::Availability;
    use crate::rights::consent::{Consent, ConsentPolicy};
    use xmpp_parsers::stanza_error::DefinedCondition;

    #[test]
    fn inputs_are_checked_and_refusals_name_the_field() {
        let mut bench = Bench::new();
        bench.online("bob", Availability::Chat, None);
        let game = bench.platform();
        let bob = jid("bob");
        let long = "y".repeat(201);
        let cases: Vec<(Ran, &str)> = vec![
            (
                bench.run::<OpenUrl>(&game, &[("jid", &[&bob]), ("url", &["http://x.test/"])]),
                "\"url\"",
            ),
            (
                bench.run::<OpenUrl>(
                    &game,
                    &[("jid", &[&bob]), ("url", &["javascript:alert(1)"])],
                ),
                "\"url\"",
            ),
            (bench.run::<OpenUrl>(&game, &[("jid", &[&bob])]), "\"url\""),
            (
                bench.run::<SendMessage>(&game, &[("jid", &[&bob]), ("text", &["a\ttab"])]),
                "\"text\"",
            ),
            (
                bench.run::<Launch>(&game, &[("jid", &[&bob]), ("uri", &["minecraft://x"])]),
                "\"uri\"",
            ),
            (
                bench.run::<SetStatus>(&game, &[("jid", &[&bob]), ("status", &[&long])]),
                "\"status\"",
            ),
            (
                bench.run::<SendMessage>(&game, &[("text", &["hi"])]),
                "\"jid\"",
            ),
        ];
        for (ran, named) in cases {
            let failure = ran.failure();
            assert_eq!(
                failure.condition,
                DefinedCondition::BadRequest,
                "{}",
                ran.node
            );
            assert!(
                failure.text.contains(named),
                "{}: {}",
                ran.node,
                failure.text
            );
            assert!(
                ran.sent().is_empty() && ran.writes().is_empty(),
                "{}",
                ran.node
            );
        }
    }

    #[test]
    fn a_user_who_does_not_share_is_refused_exactly_like_nobody() {
        let mut bench = Bench::new();
        bench.consent = Consent::new(ConsentPolicy::OptIn);
        bench.online("alice", Availability::Chat, None);
        let game = bench.platform();
        for ran in [
            bench.run::<SendMessage>(&game, &[("jid", &[&jid("alice")]), ("text", &["hi"])]),
            bench.run::<Attention>(&game, &[("jid", &[&jid("alice")])]),
        ] {
            let nobody = match ran.node {
                "send-message" => {
                    bench.run::<SendMessage>(&game, &[("jid", &[&jid("zed")]), ("text", &["hi"])])
                }
                _ => bench.run::<Attention>(&game, &[("jid", &[&jid("zed")])]),
            };
            assert_eq!(ran.failure().condition, DefinedCondition::ItemNotFound);
            assert_eq!(
                ran.failure().text.replace("alice", "zed"),
                nobody.failure().text
            );
            assert!(ran.sent().is_empty() && ran.disclosed().is_empty());
        }
    }
}
