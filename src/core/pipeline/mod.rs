//! A request's path, whichever front door it came through: the node is found and the
//! actor decided → the node's access is checked (before the form is read) → the node's
//! handler, given its narrowed caller, a read-only view and its outputs → the handler's
//! writes committed → the answer sent, then the handler's effects (the disclosures
//! recorded in the audit). A handler that awaits the server is suspended with its
//! continuation and resumed exactly once.
//!
//! The front doors turn what arrives into a request with an actor and say how its
//! answer leaves: [`xmpp`] (ad-hoc commands with their XEP-0050 sessions, chat words,
//! prompt forms) and [`door`] (any other, such as HTTP: a typed request in, a typed
//! answer out, refusals as [`Failure`]s the door maps to its own codes).

mod door;
mod xmpp;

pub use door::{Answered, DoorAnswer, DoorRequest, Format, PAGE_DOOR};

use std::str::FromStr;
use std::time::SystemTime;

use tracing::{debug, error};
use xmpp_parsers::jid::{BareJid, Jid};

use super::session::Session;
use super::stanza::{self, Header};
use super::{Core, CoreConfig, Outbox, State};
use crate::commands::{Effect, IqReply, NodeDef, Out, Progress, Resume, View};
use crate::failure::Failure;
use crate::rights::actor::Known;
use crate::rights::platforms::Shape;
use crate::rights::{self, Access, Actor};

/// A command request on its way: what is needed to answer it, whenever that is.
pub(super) struct Suspended {
    /// Where it came from, and so where its answer goes.
    origin: Origin,
    def: &'static NodeDef,
    actor: Actor,
    out: Out,
    /// When it reached the core: its answer's latency starts here.
    received: SystemTime,
    /// The reads it waited for so far, and their answers (`Err`: the read failed).
    pub(super) fetched: Vec<crate::commands::FetchedRead>,
}

impl Suspended {
    /// Its answer is on its way (or its refusal, `ok` false): its latency is observed
    /// once the answer leaves.
    fn answered(&self, ok: bool, out: &mut Outbox) {
        let door = match &self.origin {
            Origin::Xmpp {
                channel: Channel::Command { .. },
                ..
            } => "xmpp",
            Origin::Xmpp {
                channel: Channel::Chat,
                ..
            } => "chat",
            Origin::Door { door, .. } => door,
        };
        let outcome = if ok { "answered" } else { "refused" };
        out.answered
            .push(((door, self.def.node, outcome), self.received));
    }

    /// Who asks, for the caps per requester.
    pub(super) fn requester(&self) -> BareJid {
        self.actor.jid().to_bare()
    }

    /// Answers the request with `failure`.
    pub(super) fn fail(&self, failure: &Failure, out: &mut Outbox) {
        fail(self, failure, out);
    }
}

/// The front door a request came through, and so how it is answered.
// Nearly every request comes over XMPP: its header is kept inline rather than boxed.
#[allow(clippy::large_enum_variant)]
enum Origin {
    /// A stanza: an IQ or a message, answered on the stream.
    Xmpp { header: Header, channel: Channel },
    /// Another front door's request, answered with a [`DoorAnswer`].
    Door {
        door: &'static str,
        id: u64,
        format: door::Format,
    },
}

/// How an XMPP request came, and so how it is answered.
enum Channel {
    /// An ad-hoc command (XEP-0050).
    Command {
        sessionid: Option<String>,
        /// The shape of answer asked for.
        shape: Shape,
        /// The session the request continued, put back if the handler refuses at once
        /// (the requester may correct the form and submit again).
        restore: Option<Session>,
    },
    /// Chat words: the answer is a chat message with its text.
    Chat,
}

/// A suspended request and its continuation, as kept while it waits for the server.
pub(super) struct Waiter {
    pub(super) request: Suspended,
    pub(super) then: Resume,
    /// The answer to the privileged IQ it waited for, if any.
    pub(super) reply: Option<IqReply>,
}

/// A request whose writes are on their way to the database: its answer, sent once they
/// are stored.
pub(in crate::core) struct Committing {
    request: Suspended,
    answer: Box<dyn crate::commands::Answer>,
    /// The end of the block of ids its writes reserve, if they do.
    reserve: Option<u64>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Waiter({})", self.request.def.node)
    }
}

/// What a handler may read, over the core's state.
pub(super) fn view<'a>(
    state: &'a State,
    config: &'a CoreConfig,
    (reply, fetched): (Option<&'a IqReply>, &'a [crate::commands::FetchedRead]),
    now: SystemTime,
) -> View<'a> {
    View {
        now,
        component: &config.component,
        directory: &state.directory,
        store: state
            .store
            .here()
            .map(|store| store as &dyn crate::store::Reads),
        fetched,
        schema_version: state.schema_version,
        health: &state.health,
        registry: &state.registry,
        consent: &state.consent,
        self_status: &state.self_status,
        audit: &state.audit,
        prompts: &state.prompts,
        invites: &state.invites,
        mutes: &state.mutes,
        askers: &state.askers,
        seed: state.health.stats.commands_served ^ config.salt,
        reply,
        settings: &config.rights,
        page: config.page.as_ref(),
        max_reply_bytes: config.max_stanza_bytes,
    }
}

impl Core {
    /// Who sends a request from `from` to a node that requires `access`, with the
    /// `token` its form carries, if any: what the core knows of the sender, and
    /// [`rights::actor::decide`]. Decided once, before anything else of the request is
    /// read.
    pub(in crate::core) fn actor(&self, from: &Jid, access: Access, token: Option<&str>) -> Actor {
        let bare = from.to_bare();
        let registry = &self.state.registry;
        let known = Known {
            admin: self.config.admins.contains(&bare),
            token: token
                .and_then(|t| registry.by_token(t))
                .and_then(|(id, entry)| Some((BareJid::from_str(id).ok()?, entry.profile.clone()))),
            registered: registry
                .get(bare.as_str())
                .map(|entry| (entry.authorized, entry.profile.clone())),
            trusted_domain: self.config.access.trusts(from.domain().as_str()),
            served_user: from.node().is_some()
                && self
                    .state
                    .directory
                    .domain_of(from.domain().as_str())
                    .is_some(),
            public_platforms: self.config.access.public_platforms,
        };
        rights::actor::decide(from, access, known)
    }

    /// Whether the sender at `from` may run `def`.
    pub(in crate::core) fn may_run(&self, from: &Jid, def: &NodeDef, token: Option<&str>) -> bool {
        may_run(def, &self.actor(from, def.access, token))
    }

    /// Sets a request on its way: its handler's first run is a continuation like any
    /// other.
    fn begin(
        &mut self,
        origin: Origin,
        (def, actor): (&'static NodeDef, Actor),
        then: Resume,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let request = Suspended {
            origin,
            def,
            actor,
            out: Out::default(),
            received: now,
            fetched: Vec::new(),
        };
        self.resume(
            Waiter {
                request,
                then,
                reply: None,
            },
            now,
            out,
        );
    }

    /// What a handler decided: an error, a wait, or an answer to commit and send.
    fn settle(
        &mut self,
        mut request: Suspended,
        result: Result<Progress, Failure>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        // Ids drawn are never given again, whatever becomes of the request. The database
        // keeps how far ids are reserved, a block at a time, so that most requests do
        // not write it.
        let drawn = std::mem::take(&mut request.out.ids_drawn);
        self.state.next_id += drawn;
        let reserve = (self.state.next_id > self.state.ids_reserved
            && matches!(result, Ok(Progress::Done(_))))
        .then(|| self.state.next_id + super::ID_BLOCK);
        if let Some(reserve) = reserve {
            request.out.write(crate::store::Write::Meta {
                key: super::NEXT_ID.to_owned(),
                value: reserve.to_string(),
            });
        }
        match result {
            Err(failure) => {
                if let Origin::Xmpp {
                    channel:
                        Channel::Command {
                            sessionid, restore, ..
                        },
                    ..
                } = &mut request.origin
                {
                    if let (Some(id), Some(session)) = (sessionid.take(), restore.take()) {
                        self.sessions.restore(id, session, now);
                    }
                }
                fail(&request, &failure, out);
            }
            Ok(Progress::Await(needs, then)) => {
                // Once it waited, the session is the request's own: no second submission.
                if let Origin::Xmpp {
                    channel: Channel::Command { restore, .. },
                    ..
                } = &mut request.origin
                {
                    *restore = None;
                }
                self.wait(
                    needs,
                    Waiter {
                        request,
                        then,
                        reply: None,
                    },
                    now,
                    out,
                );
            }
            Ok(Progress::Done(answer)) => {
                let disclosed = request
                    .out
                    .effects()
                    .iter()
                    .filter(|e| matches!(e, Effect::Disclose(_)))
                    .count();
                if disclosed > 0
                    && (self.state.health.storage_failing_since.is_some()
                        || !self.state.audit.has_room(disclosed))
                {
                    // Fail closed: no disclosure goes unrecorded.
                    self.state.health.stats.disclosures_refused += 1;
                    return fail(&request, &Failure::unrecordable(), out);
                }
                let mut writes = request.out.take_writes();
                if disclosed > 0 && self.state.store.is_away() {
                    // With the database away (PostgreSQL, perhaps with a standby), what
                    // the answer discloses is recorded with the request's writes, before
                    // it leaves: a failover loses no record.
                    let records = self.disclosures(&request, now);
                    if !records.is_empty() {
                        writes.push(crate::store::Write::Audit(records));
                    }
                }
                let committing = Committing {
                    request,
                    answer,
                    reserve,
                };
                if writes.is_empty() {
                    return self.committed(committing, writes, Ok(()), now, out);
                }
                if !self.storage_has_room() {
                    self.state.health.stats.storage_jobs_refused += 1;
                    let failure = Failure::resource_constraint(
                        "the bridge's database is behind; try again shortly",
                    );
                    return fail(&committing.request, &failure, out);
                }
                self.store_request(writes, committing, now, out);
            }
        }
    }

    /// A request's writes are stored (or could not be): its answer and effects leave
    /// (or its refusal).
    pub(in crate::core) fn committed(
        &mut self,
        committing: Committing,
        writes: Vec<crate::store::Write>,
        stored: Result<(), crate::store::StoreError>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let Committing {
            mut request,
            answer,
            reserve,
        } = committing;
        match stored {
            Ok(()) => {}
            Err(crate::store::StoreError::Fenced { .. }) => {
                self.state.health.stats.storage_failures += 1;
                let failure = Failure::service_unavailable(
                    "this bridge is handing over to another; try again in a few seconds",
                );
                return fail(&request, &failure, out);
            }
            Err(crate::store::StoreError::Conflict(what)) => {
                // Answered or closed meanwhile, by a request stored just before.
                let failure = Failure::not_acceptable(format!("{what}; nothing was changed"));
                return fail(&request, &failure, out);
            }
            Err(e) => {
                self.state.health.stats.storage_failures += 1;
                error!(error = %e, node = request.def.node, "cannot store a command's changes; nothing was sent for it");
                return fail(&request, &Failure::internal(), out);
            }
        }
        if writes
            .iter()
            .any(|w| matches!(w, crate::store::Write::News(_)))
        {
            out.news_written = true;
        }
        if let Some(reserve) = reserve {
            self.state.ids_reserved = self.state.ids_reserved.max(reserve);
        }
        let mut recorded = false;
        for write in &writes {
            if let crate::store::Write::Audit(records) = write {
                self.state.audit.written_with_request(records);
                recorded = true;
            }
        }
        if !writes.is_empty() {
            self.state.health.stats.storage_writes += 1;
            self.applied(writes);
        }
        self.state.health.stats.commands_served += 1;
        request.answered(true, out);
        let node = request.def.node;
        // A user reads the labels; a platform's program reads the fields' names.
        let lang = match &request.actor {
            Actor::User(user) => self.state.directory.lang(&user.bare()),
            _ => crate::strings::Lang::En,
        };
        match request.origin {
            Origin::Xmpp { header, channel } => {
                self.answer_stanza(&header, channel, node, &*answer, lang, out)
            }
            Origin::Door { door, id, format } => {
                let max = self.config.max_stanza_bytes;
                door::answer((door, id, format), node, &*answer, max, out)
            }
        }
        let platform = request.actor.platform().map(|p| p.id.as_str());
        let at = crate::directory::unix_secs(now);
        for effect in request.out.take_effects() {
            match effect {
                Effect::Send(el) => out.send(el),
                // Recorded with the writes already, or now, to be written with the next
                // batch.
                Effect::Disclose(_) if recorded => {}
                Effect::Disclose(user) => {
                    if let Some(platform) = platform {
                        self.state
                            .audit
                            .record(platform, &user, request.def.node, at);
                    }
                }
            }
        }
    }

    /// The records of what `request`'s answer discloses, but those repeating one made
    /// within the coalescing window.
    fn disclosures(&self, request: &Suspended, now: SystemTime) -> Vec<crate::store::AuditRecord> {
        let Some(platform) = request.actor.platform().map(|p| p.id.as_str()) else {
            return Vec::new();
        };
        let at = crate::directory::unix_secs(now);
        let mut records: Vec<crate::store::AuditRecord> = Vec::new();
        for effect in request.out.effects() {
            if let Effect::Disclose(user) = effect {
                let node = request.def.node;
                let repeat = self.state.audit.is_repeat(platform, user, node, at)
                    || records.iter().any(|r| r.user == *user);
                if !repeat {
                    records.push(crate::store::AuditRecord {
                        at,
                        platform: platform.to_owned(),
                        user: user.clone(),
                        command: node.to_owned(),
                    });
                }
            }
        }
        records
    }

    /// Brings what the core holds in memory in line with writes just committed.
    pub(in crate::core) fn applied(&mut self, writes: Vec<crate::store::Write>) {
        let state = &mut self.state;
        let mut memory = crate::commands::Memory {
            consent: &mut state.consent,
            self_status: &mut state.self_status,
            prompts: &mut state.prompts,
            invites: &mut state.invites,
            mutes: &mut state.mutes,
        };
        for write in writes {
            if let crate::store::Write::Prompt(prompt) = &write {
                if prompt.invite.is_some() {
                    // Its message leaves right after this commit.
                    self.sent.push(prompt.id.clone());
                }
            }
            memory.apply(write);
        }
    }

    /// Runs a request's continuation: its first run, or its resumption once its wait is
    /// over.
    pub(in crate::core) fn resume(&mut self, waiter: Waiter, now: SystemTime, out: &mut Outbox) {
        let Waiter {
            mut request,
            then,
            reply,
        } = waiter;
        request.out.id_base = self.state.next_id;
        let result = then.run(
            &request.actor,
            &view(
                &self.state,
                &self.config,
                (reply.as_ref(), &request.fetched),
                now,
            ),
            &mut request.out,
        );
        self.settle(request, result, now, out);
    }
}

/// Whether `actor` may run `def`: the node admits it, and a platform holds the node's
/// right.
fn may_run(def: &NodeDef, actor: &Actor) -> bool {
    rights::admits(def.access, actor)
        && def.right.is_none_or(|right| {
            actor
                .platform()
                .is_some_and(|p| p.profile.rights.contains(right))
        })
}

/// Refuses a platform asking through a front door the operator did not open to it.
fn through(door: &str, actor: &Actor) -> Result<(), Failure> {
    match actor.platform() {
        Some(platform) if !platform.profile.doors.allows(door) => {
            Err(crate::rights::platforms::Doors::closed(door))
        }
        _ => Ok(()),
    }
}

/// Answers `request` with `failure`: an error reply to a command, a chat message to
/// chat words, a refusal to another front door.
fn fail(request: &Suspended, failure: &Failure, out: &mut Outbox) {
    debug!(condition = ?failure.condition, text = %failure.text, "refused");
    request.answered(false, out);
    match &request.origin {
        Origin::Xmpp { header, channel } => xmpp::refuse_on(header, channel, failure, out),
        Origin::Door { door, id, .. } => door::refuse(door, *id, failure.clone(), out),
    }
}

fn refuse(header: &Header, failure: &Failure, out: &mut Outbox) {
    debug!(condition = ?failure.condition, text = %failure.text, "refused");
    out.send(stanza::error_reply(header, failure));
}

#[cfg(test)]
mod tests;
