//! A front door other than XMPP (HTTP, or a test's): a typed request in, a typed answer
//! out. It goes through what an ad-hoc command goes through, less the XEP-0050
//! sessions: the requester's rate, the node and who asks ([`crate::rights::actor`]),
//! the node's access and right, the handler, the commit, the audit of what it
//! disclosed. Its refusals are [`Failure`]s, which the door maps to its own codes
//! ([`Failure::http_status`]). A door serves game platforms only (it establishes which
//! platform asks, by its token; users and operators have their chat clients), those the
//! operator opened it to ([`crate::rights::platforms::Doors`]), and only while the link
//! to the chat server is up.

use std::time::SystemTime;

use std::str::FromStr;

use xmpp_parsers::jid::{BareJid, Jid};

use super::{may_run, Origin};
use crate::commands::render::{self, Answer};
use crate::commands::{disco, Resume};
use crate::core::{Core, Outbox};
use crate::failure::Failure;
use crate::rights::platforms::Shape;
use crate::rights::{Actor, Platform, Via};
use crate::wire::Xml;
use crate::xep::forms::DataForm;

/// The door of users' privacy pages: the only one users go through (the listener
/// establishes who, from the page's one-time link), and only to their own nodes.
pub const PAGE_DOOR: &str = "privacy-page";

/// A request through another front door.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorRequest {
    /// The door's name (`http`): its answers come back with it.
    pub door: &'static str,
    /// The door's own number for the request: its answer carries it.
    pub id: u64,
    /// Who asks, where the door established it (a test's); `None`: the platform
    /// [`DoorRequest::token`] was issued to, and without a valid token, nobody.
    pub from: Option<Jid>,
    /// A platform token, where the door carries one.
    pub token: Option<String>,
    /// The node asked for.
    pub node: String,
    /// Its fields, as a submitted form.
    pub form: DataForm,
    /// How the answer is written.
    pub format: Format,
}

/// How a door wants its answers written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What a completed `<command/>` carries: the summary, the form and its notes, or
    /// the compact payload where the node has it.
    Xml,
    /// The result form as one JSON object ([`render::json`]).
    Json,
}

/// A front door's answer, in the order the requests were settled.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorAnswer {
    pub door: &'static str,
    /// The request's [`DoorRequest::id`].
    pub id: u64,
    pub result: Result<Answered, Failure>,
}

/// A node's answer, for a door to write in its own format.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub node: &'static str,
    /// The answer in a sentence or two.
    pub summary: String,
    /// The shape [`Answered::body`] is in: in XML, compact where the node has it, else
    /// the result form; in JSON, the result form.
    pub shape: Shape,
    /// The answer in the [`Format`] asked for.
    pub body: String,
}

impl Answered {
    pub fn new(
        node: &'static str,
        answer: &dyn Answer,
        max_bytes: usize,
        format: Format,
    ) -> Answered {
        let summary = render::summary(answer);
        let (shape, body) = match format {
            Format::Xml => {
                let mut bytes = Vec::new();
                let shape =
                    render::body(&mut Xml::new(&mut bytes), answer, Shape::Compact, max_bytes);
                (shape, String::from_utf8_lossy(&bytes).into_owned())
            }
            Format::Json => (
                Shape::Form,
                render::json::json_with(node, answer, &summary, max_bytes),
            ),
        };
        Answered {
            node,
            summary,
            shape,
            body,
        }
    }
}

/// Answers a door's request with `answer`.
pub(super) fn answer(
    (door, id, format): (&'static str, u64, Format),
    node: &'static str,
    answer: &dyn Answer,
    max_bytes: usize,
    out: &mut Outbox,
) {
    let result = Ok(Answered::new(node, answer, max_bytes, format));
    out.answers.push(DoorAnswer { door, id, result });
}

/// Refuses a door's request.
pub(super) fn refuse(door: &'static str, id: u64, failure: Failure, out: &mut Outbox) {
    out.answers.push(DoorAnswer {
        door,
        id,
        result: Err(failure),
    });
}

impl Core {
    /// A request through another front door.
    pub(in crate::core) fn on_request(
        &mut self,
        request: DoorRequest,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let DoorRequest {
            door,
            id,
            from,
            token,
            node,
            form,
            format,
        } = request;
        let refuse = |failure: Failure, out: &mut Outbox| refuse(door, id, failure, out);
        // As bounded as the token read from a command's form.
        let token = token.filter(|t| t.len() <= crate::rights::token::MAX_TOKEN_BYTES);
        let Some(from) = from.or_else(|| self.token_holder(token.as_deref(), now, out)) else {
            return refuse(crate::rights::token::needed(), out);
        };
        if !matches!(self.state.health.link, crate::health::Link::Up { .. }) {
            // Nothing a node needs from the chat server would come.
            let failure = Failure::service_unavailable(
                "the bridge is not connected to the chat server right now; try again shortly",
            );
            return refuse(failure, out);
        }
        if let Err(failure) = self.admit_requester(&from, now, out) {
            return refuse(failure, out);
        }
        let mut actor = None;
        let admitted = disco::admit(&node, |def| {
            let decided = self.actor(&from, def.access, token.as_deref());
            let admitted = may_run(def, &decided);
            actor = Some(decided);
            admitted
        });
        // A prompt's answer node (`prompt/<id>/yes`) is for users' chat clients only.
        let (def, actor) = match (admitted, actor) {
            (Ok((def, None)), Some(actor)) => (def, actor),
            (Ok(_), _) => return refuse(Failure::item_not_found("there is no such command"), out),
            (Err(failure), _) => return refuse(failure, out),
        };
        let allowed = match door {
            PAGE_DOOR => matches!(actor, Actor::User(_)),
            // A door establishes which platform asks; users and operators have their
            // chat clients.
            _ => actor.is_platform(),
        };
        if !allowed {
            let failure = match door {
                PAGE_DOOR => Failure::forbidden("the privacy page runs only your own commands"),
                _ => Failure::forbidden("only game platforms ask through this door"),
            };
            return refuse(failure, out);
        }
        if let Err(failure) = super::through(door, &actor) {
            return refuse(failure, out);
        }
        self.note_asker(&actor, now);
        let then = Resume::new(move |actor, view, out| (def.start)(&form, actor, view, out));
        let origin = Origin::Door { door, id, format };
        self.begin(origin, (def, actor), then, now, out);
    }

    /// The news address of the platform `token` was issued to, if it is valid (the
    /// registry read again first if the CLI changed it): what it starts tells it there.
    fn token_holder(
        &mut self,
        token: Option<&str>,
        now: SystemTime,
        out: &mut Outbox,
    ) -> Option<Jid> {
        self.refresh_registry(now, out);
        let (jid, _) = self.state.registry.by_token(token?)?;
        Some(crate::news::address(&BareJid::from_str(jid).ok()?))
    }

    /// Remembers a platform outside the registry that asked, for users' privacy pages.
    pub(super) fn note_asker(&mut self, actor: &Actor, now: SystemTime) {
        if let Actor::Platform(Platform {
            id,
            via: Via::TrustedDomain | Via::Public,
            ..
        }) = actor
        {
            // Users may then see it in their privacy, and name it by its JID.
            self.state
                .askers
                .note(id.as_str(), crate::directory::unix_secs(now));
        }
    }
}
