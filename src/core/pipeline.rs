//! A command request's path: the node is found and the actor decided → the node's
//! access is checked (before the form is read) → the XEP-0050 session rules → the
//! node's handler with a narrow [`Ctx`] → the handler's writes committed → the answer
//! rendered and sent, then the handler's effects. A handler that awaits the server is
//! suspended with its continuation and resumed exactly once.

use std::str::FromStr;
use std::time::SystemTime;

use minidom::Element;
use tracing::{debug, error};
use xmpp_parsers::jid::{BareJid, Jid};

use super::session::Session;
use super::stanza::{self, Header};
use super::{Core, CoreConfig, Outbox, State};
use crate::commands::{self, disco, render, Effect, IqReply, NodeDef, Out, Progress, Resume, View};
use crate::failure::{quote, Failure};
use crate::rights::actor::Known;
use crate::rights::platforms::Shape;
use crate::rights::{self, token, Access, Actor, Platform, Via};
use crate::wire::TooLarge;
use crate::xep::commands::{Action, Actions, Command, CommandError, SpecificCondition, Status};
use crate::xep::forms::{DataForm, FormType};

/// A command request on its way: what is needed to answer it, whenever that is.
pub(super) struct Suspended {
    header: Header,
    def: &'static NodeDef,
    actor: Actor,
    /// Where the answer goes: a command response, or a chat message.
    channel: Channel,
    out: Out,
}

impl Suspended {
    pub(super) fn header(&self) -> &Header {
        &self.header
    }

    /// Answers the request with `failure`.
    pub(super) fn fail(&self, failure: &Failure, out: &mut Outbox) {
        fail(self, failure, out);
    }
}

/// How a request came, and so how it is answered.
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

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Waiter({})", self.request.def.node)
    }
}

/// What the session rules decided for a request.
enum Step {
    /// Answer with this, without running the handler.
    Reply(Command),
    /// Run the handler on this form.
    Run {
        form: DataForm,
        sessionid: Option<String>,
        restore: Option<Session>,
    },
}

/// The shape of answer a request asks for: the form's `format` field, or else its
/// platform's registry entry, or else the data form.
fn answer_shape(form: &DataForm, actor: &Actor) -> Result<Shape, Failure> {
    if let Some(word) = form.value(render::FORMAT_FIELD) {
        return Shape::parse(word).ok_or_else(|| {
            Failure::bad_request(format!(
                "the field \"{}\" is \"form\" or \"compact\", not {:?}",
                render::FORMAT_FIELD,
                quote(word)
            ))
        });
    }
    Ok(actor.platform().map_or(Shape::Form, |p| p.profile.answers))
}

/// What a handler may read, over the core's state.
fn view<'a>(
    state: &'a State,
    config: &'a CoreConfig,
    reply: Option<&'a IqReply>,
    now: SystemTime,
) -> View<'a> {
    View {
        now,
        component: &config.component,
        directory: &state.directory,
        store: &state.store,
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
        max_reply_bytes: config.max_stanza_bytes,
    }
}

impl Core {
    /// Who sends a request from `from` to a node that requires `access`, with the
    /// `token` its form carries, if any: what the core knows of the sender, and
    /// [`rights::actor::decide`]. Decided once, before anything else of the request is
    /// read.
    pub(super) fn actor(&self, from: &Jid, access: Access, token: Option<&str>) -> Actor {
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
    pub(super) fn may_run(&self, from: &Jid, def: &NodeDef, token: Option<&str>) -> bool {
        may_run(def, &self.actor(from, def.access, token))
    }

    /// An IQ set carrying a `<command/>` for `node`.
    pub(super) fn on_command(
        &mut self,
        header: &Header,
        node: &str,
        payload: &Element,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        // Who may run the node is decided before the form is read: a stranger's form,
        // however large or odd, is never parsed.
        let token = token_field(payload);
        let mut actor = None;
        // A prompt's answer node (`prompt/<id>/yes`) stands for its form.
        let (def, implied) = match disco::admit(node, |def| {
            let decided = self.actor(&header.from, def.access, token);
            let admitted = may_run(def, &decided);
            actor = Some(decided);
            admitted
        }) {
            Ok(admitted) => admitted,
            Err(failure) => return refuse(header, &failure, out),
        };
        let Some(actor) = actor else {
            return refuse(header, &Failure::internal(), out);
        };
        if let Actor::Platform(Platform {
            id,
            via: Via::TrustedDomain | Via::Public,
            ..
        }) = &actor
        {
            // Users may then see it in their privacy, and name it by its JID.
            self.state
                .askers
                .note(id.as_str(), crate::directory::unix_secs(now));
        }
        let step = Command::try_from(payload)
            .map_err(command_parse_failure)
            .map(|mut request| {
                if request.form.is_none() && request.sessionid.is_none() {
                    request.form = implied;
                }
                request
            })
            .and_then(|request| self.step(def, &actor, request, now));
        let (form, sessionid, restore) = match step {
            Ok(Step::Reply(command)) => {
                self.state.health.stats.commands_served += 1;
                out.send(stanza::iq_result(header, Some(command.into())));
                return;
            }
            Ok(Step::Run {
                form,
                sessionid,
                restore,
            }) => (form, sessionid, restore),
            Err(failure) => return refuse(header, &failure, out),
        };
        let shape = match answer_shape(&form, &actor) {
            Ok(shape) => shape,
            Err(failure) => return refuse(header, &failure, out),
        };
        // The handler's first run is a continuation like any other.
        let then = Resume::new(move |actor, view, out| (def.start)(&form, actor, view, out));
        self.begin(
            header,
            def,
            actor,
            Channel::Command {
                sessionid,
                restore,
                shape,
            },
            then,
            now,
            out,
        );
    }

    /// A chat message from a user to the component: its first word says which node it
    /// runs.
    pub(super) fn on_words(
        &mut self,
        header: &Header,
        body: &str,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let reply = |text: &str, out: &mut Outbox| {
            out.send(stanza::chat_reply(header, text));
        };
        if body.len() > commands::MAX_WORDS_BYTES {
            return reply(
                "That message is too long for me: I understand short words. Say \"help\" to see them.",
                out,
            );
        }
        let (word, rest) = commands::split_words(body);
        if word.is_empty() {
            return;
        }
        if word == "help" {
            return reply(&self.help(&header.from), out);
        }
        let Some(def) = commands::find_word(&word) else {
            return reply(
                &format!(
                    "I do not know \"{}\". Say \"help\" to see what I understand.",
                    crate::failure::cut(&word, 40).unwrap_or_else(|| word.clone())
                ),
                out,
            );
        };
        let actor = self.actor(&header.from, def.access, None);
        if !rights::admits(def.access, &actor) {
            return reply(&rights::refusal(def.access, def.node), out);
        }
        let rest = rest.to_owned();
        let then = Resume::new(move |actor, view, out| (def.say)(&word, &rest, actor, view, out));
        self.begin(header, def, actor, Channel::Chat, then, now, out);
    }

    /// A message from a user submitting a prompt's form (clients that show the form in
    /// the message send it back so): the prompt is found by the form's hidden field, or
    /// else by the message's thread.
    pub(super) fn on_prompt_form(
        &mut self,
        header: &Header,
        mut form: DataForm,
        thread: Option<&str>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        use crate::prompts::PROMPT_FIELD;
        if form.value(PROMPT_FIELD).is_none() {
            if let Some(id) = thread.and_then(|t| t.strip_prefix("prompt-")) {
                form.push_field(crate::xep::forms::Field::value(PROMPT_FIELD, id));
            }
        }
        let Some(def) = commands::find(<commands::answer::AnswerPrompt as commands::Node>::NODE)
        else {
            return;
        };
        let actor = self.actor(&header.from, def.access, None);
        if !rights::admits(def.access, &actor) {
            return;
        }
        let then = Resume::new(move |actor, view, out| (def.start)(&form, actor, view, out));
        self.begin(header, def, actor, Channel::Chat, then, now, out);
    }

    /// Prompts whose time ran out: recorded as expired, and their platforms (and an
    /// invite's host) told. Only while the link is up: what falls due while it is down
    /// (or the bridge is stopped) is applied, and told, once it is back.
    pub(super) fn expire_prompts(&mut self, now: SystemTime, out: &mut Outbox) {
        if !matches!(self.state.health.link, super::Link::Up { .. }) {
            return;
        }
        let secs = crate::directory::unix_secs(now);
        for id in self.state.prompts.expired(secs) {
            let answer = crate::invites::Answer::Expired;
            let (plan, told) =
                match crate::invites::plan::answer(&self.state.invites, &id, answer, None, secs) {
                    Some(plan) => (plan, None),
                    None => {
                        let Some(prompt) = self.state.prompts.get(&id) else {
                            continue;
                        };
                        // A consent request tells its platform; an invitation whose invite
                        // is not held (it could not be read at start) has nobody to tell.
                        let told = prompt.invite.is_none().then(|| {
                            commands::answer::answer_message(
                                self.config.component.as_str(),
                                prompt,
                                "expired",
                            )
                        });
                        let plan = crate::invites::plan::Plan {
                            writes: vec![crate::store::Write::PromptAnswer {
                                id: id.clone(),
                                answer: answer.stored(),
                                at: secs,
                                how: None,
                            }],
                            notices: Vec::new(),
                        };
                        (plan, told)
                    }
                };
            if let Err(e) = self.carry_out(plan, told, now, out) {
                // Tried again a second later; the prompt stays waiting meanwhile.
                debug!(error = %e, "cannot record an expired prompt");
                self.state.prompts.retry_expiry(&id, secs + 1);
            }
        }
        for id in self.state.invites.retire(secs) {
            debug!(invite = %id, "invite past its expiry, with every answer in: no longer held");
        }
        for id in self.state.invites.ending(secs) {
            self.end_session(&id, now, out);
        }
    }

    /// Ends a ready or started session the platform did not end within
    /// `invites.session_max_secs`: recorded as `session-ended` would, the platform told,
    /// and what `session-started` published (XEP-0196) cleared, as `session-ended` does.
    fn end_session(&mut self, id: &str, now: SystemTime, out: &mut Outbox) {
        use crate::invites::{Answer, State};
        let secs = crate::directory::unix_secs(now);
        let Some(invite) = self.state.invites.get(id) else {
            return;
        };
        let started = invite.state() == State::Started;
        let platform = invite.record.platform.clone();
        let mut players = vec![invite.record.host.clone()];
        players.extend(
            invite
                .invitees
                .iter()
                .filter(|i| i.answer == Some(Answer::Accepted))
                .map(|i| i.jid.clone()),
        );
        let plan = match crate::invites::plan::end(&self.state.invites, id, secs) {
            Ok(plan) => plan,
            Err(_) => return,
        };
        if let Err(e) = self.carry_out(plan, None, now, out) {
            debug!(error = %e, invite = %id, "cannot record the end of a session; tried again in a second");
            self.state.invites.end_later(id, secs + 1);
            return;
        }
        tracing::info!(invite = %id, "a session its platform did not end ended by itself (invites.session_max_secs)");
        if started {
            self.clear_playing(&platform, &players, now, out);
        }
    }

    /// Clears what a started session published for `players` (XEP-0196), where the
    /// platform holds `publish-gaming`, the player shares with it and the server grants
    /// the bridge the pubsub privilege; the answers are not waited for.
    fn clear_playing(
        &mut self,
        platform: &str,
        players: &[String],
        now: SystemTime,
        out: &mut Outbox,
    ) {
        use crate::commands::invite_close::publishable;
        use crate::commands::publish_gaming::publish;
        let Ok(platform_jid) = BareJid::from_str(platform) else {
            return;
        };
        let actor = self.actor(&Jid::from(platform_jid), Access::Platform, None);
        let Some(platform) = actor.platform() else {
            return;
        };
        let Ok(players) = publishable(
            platform,
            &self.state.consent,
            &self.state.directory,
            players,
        ) else {
            return;
        };
        for player in players {
            let Ok(user) = BareJid::from_str(&player) else {
                continue;
            };
            self.next_op += 1;
            let op = self.next_op;
            let iq = commands::PrivilegedIq {
                user,
                set: true,
                payload: publish(&[]),
            };
            self.send_privileged(op, iq, now, out);
        }
    }

    /// What renders the invites' notices, over the core's state.
    fn tell(&self, now: SystemTime) -> crate::invites::messages::Tell<'_> {
        crate::invites::messages::Tell {
            component: self.config.component.as_str(),
            book: &self.state.invites,
            directory: &self.state.directory,
            registry: &self.state.registry,
            now: crate::directory::unix_secs(now),
        }
    }

    /// Commits a plan of the core's own (an expiry), brings memory in line, then sends
    /// what it tells, and `also`.
    pub(super) fn carry_out(
        &mut self,
        plan: crate::invites::plan::Plan,
        also: Option<Element>,
        now: SystemTime,
        out: &mut Outbox,
    ) -> Result<(), crate::store::StoreError> {
        let mut messages = self.tell(now).messages(&plan.notices);
        messages.extend(also);
        self.state.store.commit(&plan.writes)?;
        self.state.health.stats.storage_writes += 1;
        self.applied(plan.writes);
        for message in messages {
            out.send(message);
        }
        Ok(())
    }

    /// Invitations stored but perhaps never sent (the bridge stopped between the two):
    /// sent again at the first connection, with the same ids and `origin-id`, so that
    /// clients that saw the first copy can tell.
    pub(super) fn resend_invitations(&mut self, now: SystemTime, out: &mut Outbox) {
        if self.resent {
            return;
        }
        self.resent = true;
        let unsent = match self.state.store.unsent_invitations() {
            Ok(unsent) => unsent,
            Err(e) => {
                error!(error = %e, "cannot read invitations not known to be sent; they are not sent again");
                return;
            }
        };
        let tell = self.tell(now);
        let mut sent = Vec::new();
        for prompt in unsent {
            if prompt.expires_at <= tell.now {
                // Expired meanwhile: its expiry is told instead.
                continue;
            }
            let Some(invite) = prompt.invite.as_deref().and_then(|i| tell.book.get(i)) else {
                continue;
            };
            out.send(tell.invitation(&invite.record, &prompt));
            sent.push(prompt.id);
        }
        if !sent.is_empty() {
            tracing::info!(
                invitations = sent.len(),
                "invitations the bridge may not have sent before it stopped were sent again"
            );
        }
        self.sent.extend(sent);
    }

    /// The words `from` may use, one per line.
    fn help(&self, from: &Jid) -> String {
        let mut text = String::from("I am the game bridge. You can say:");
        for def in commands::NODES {
            if !self.may_run(from, def, None) {
                continue;
            }
            for word in def.words.iter().filter(|w| !w.usage.is_empty()) {
                text.push('\n');
                text.push_str(word.usage);
            }
        }
        text.push_str("\nhelp: this list");
        text
    }

    /// Sets a request on its way: its handler's first run is a continuation like any
    /// other.
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        header: &Header,
        def: &'static NodeDef,
        actor: Actor,
        channel: Channel,
        then: Resume,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let request = Suspended {
            header: header.clone(),
            def,
            actor,
            channel,
            out: Out::default(),
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

    /// XEP-0050 §3: sessions and actions.
    fn step(
        &mut self,
        def: &'static NodeDef,
        actor: &Actor,
        request: Command,
        now: SystemTime,
    ) -> Result<Step, Failure> {
        let Some(id) = request.sessionid else {
            match request.action {
                None | Some(Action::Execute) => {}
                Some(other) => {
                    return Err(Failure::bad_request(format!(
                        "action {:?} needs the sessionid of a command in progress",
                        other.as_str()
                    ))
                    .with_specific(SpecificCondition::BadSessionid))
                }
            }
            let blank = (def.form)(actor, &view(&self.state, &self.config, None, now));
            return Ok(match (request.form, blank) {
                // One step: a submitted form must hold the answer's input.
                (Some(form), _) if form.type_ == FormType::Submit => Step::Run {
                    form,
                    sessionid: None,
                    restore: None,
                },
                (_, Some(blank)) => {
                    let id = self.sessions.new_id();
                    let actions = Actions {
                        execute: Some(Action::Complete),
                        allowed: vec![Action::Complete],
                    };
                    self.sessions.insert(
                        id.clone(),
                        def.node,
                        actor.jid().clone(),
                        actions.clone(),
                        now,
                    );
                    Step::Reply(
                        Command::response(def.node, id, Status::Executing)
                            .with_form(blank)
                            .with_actions(actions),
                    )
                }
                (_, None) => Step::Run {
                    form: DataForm::new(FormType::Submit, None),
                    sessionid: None,
                    restore: None,
                },
            });
        };
        let session = self.sessions.take(&id, def.node, actor.jid(), now)?;
        let action = match request.action {
            Some(Action::Cancel) => {
                return Ok(Step::Reply(Command::response(
                    def.node,
                    id,
                    Status::Canceled,
                )))
            }
            // "execute" (or no action) means the default the last step offered.
            None | Some(Action::Execute) => session.actions.execute.unwrap_or(Action::Complete),
            Some(action) => action,
        };
        if !session.actions.allowed.contains(&action) {
            self.sessions.restore(id, session, now);
            return Err(Failure::bad_request(format!(
                "action {:?} is not offered at this step",
                action.as_str()
            ))
            .with_specific(SpecificCondition::BadAction));
        }
        Ok(Step::Run {
            form: request
                .form
                .unwrap_or_else(|| DataForm::new(FormType::Submit, None)),
            sessionid: Some(id),
            restore: Some(session),
        })
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
            Err(failure) => match request.channel {
                Channel::Command {
                    sessionid, restore, ..
                } => {
                    if let (Some(id), Some(session)) = (sessionid, restore) {
                        self.sessions.restore(id, session, now);
                    }
                    refuse(&request.header, &failure, out);
                }
                Channel::Chat => {
                    debug!(condition = ?failure.condition, text = %failure.text, "refused");
                    out.send(stanza::chat_reply(&request.header, &failure.text));
                }
            },
            Ok(Progress::Await(needs, then)) => {
                // Once it waited, the session is the request's own: no second submission.
                if let Channel::Command { restore, .. } = &mut request.channel {
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
                let writes = request.out.take_writes();
                if let Err(e) = self.state.store.commit(&writes) {
                    self.state.health.stats.storage_failures += 1;
                    error!(error = %e, node = request.def.node, "cannot store a command's changes; nothing was sent for it");
                    return fail(&request, &Failure::internal(), out);
                }
                if let Some(reserve) = reserve {
                    self.state.ids_reserved = reserve;
                }
                if !writes.is_empty() {
                    self.state.health.stats.storage_writes += 1;
                    self.applied(writes);
                }
                self.state.health.stats.commands_served += 1;
                match request.channel {
                    Channel::Command {
                        sessionid, shape, ..
                    } => {
                        // Responses always carry a session id, single-step ones included
                        // (§3.4).
                        let id = sessionid.unwrap_or_else(|| self.sessions.new_id());
                        let max = self.config.max_stanza_bytes;
                        let header = &request.header;
                        let reply = render::Reply {
                            id: header.id.as_deref().unwrap_or_default(),
                            from: header.to.as_str(),
                            to: header.from.as_str(),
                        };
                        let written = out.wire.stanza(|xml| {
                            let node = request.def.node;
                            render::completed(xml, reply, node, &id, &*answer, shape, max);
                        });
                        if let Err(TooLarge(size)) = written {
                            out.wire.count_oversized();
                            let id = Some(reply.id);
                            out.wire
                                .too_large_answer(id, Some(reply.from), Some(reply.to), size);
                        }
                    }
                    Channel::Chat => {
                        out.send(stanza::chat_reply(&request.header, &render::text(&*answer)))
                    }
                }
                let platform = request.actor.platform().map(|p| p.id.as_str());
                let at = crate::directory::unix_secs(now);
                for effect in request.out.take_effects() {
                    match effect {
                        Effect::Send(el) => out.send(el),
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
        }
    }

    /// Brings what the core holds in memory in line with writes just committed.
    fn applied(&mut self, writes: Vec<crate::store::Write>) {
        use crate::store::Write;
        for write in writes {
            self.state.invites.apply(&write);
            self.state.mutes.apply(&write);
            match write {
                Write::Meta { .. }
                | Write::Invite(_)
                | Write::InviteState { .. }
                | Write::Mute { .. } => {}
                Write::Consent(choice, _) => self.state.consent.apply(&choice),
                Write::SelfStatus { user, status } => self.state.self_status.apply(&user, status),
                Write::Prompt(prompt) => {
                    if prompt.invite.is_some() {
                        // Its message leaves right after this commit.
                        self.sent.push(prompt.id.clone());
                    }
                    self.state.prompts.insert(prompt)
                }
                Write::PromptAnswer { id, .. } => {
                    self.state.prompts.remove(&id);
                }
            }
        }
    }

    /// Runs a request's continuation: its first run, or its resumption once its wait is
    /// over.
    pub(super) fn resume(&mut self, waiter: Waiter, now: SystemTime, out: &mut Outbox) {
        let Waiter {
            mut request,
            then,
            reply,
        } = waiter;
        request.out.id_base = self.state.next_id;
        let result = then.run(
            &request.actor,
            &view(&self.state, &self.config, reply.as_ref(), now),
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

/// The hidden `token` field of a command's form, read before anything else of the
/// request: a bounded look at the form's direct fields, one text node of at most
/// [`token::MAX_TOKEN_BYTES`] bytes.
fn token_field(payload: &Element) -> Option<&str> {
    let form = payload
        .children()
        .take(8)
        .find(|c| c.is("x", crate::xep::forms::NS))?;
    let field = form
        .children()
        .take(64)
        .find(|f| f.name() == "field" && f.attr("var") == Some("token"))?;
    let value = field.children().find(|v| v.name() == "value")?;
    let mut texts = value.texts();
    let text = texts.next()?;
    (texts.next().is_none() && text.len() <= token::MAX_TOKEN_BYTES).then_some(text)
}

/// Answers `request` with `failure`: an error reply to a command, a chat message to
/// chat words.
fn fail(request: &Suspended, failure: &Failure, out: &mut Outbox) {
    match request.channel {
        Channel::Command { .. } => refuse(&request.header, failure, out),
        Channel::Chat => {
            debug!(condition = ?failure.condition, text = %failure.text, "refused");
            out.send(stanza::chat_reply(&request.header, &failure.text));
        }
    }
}

fn refuse(header: &Header, failure: &Failure, out: &mut Outbox) {
    debug!(condition = ?failure.condition, text = %failure.text, "refused");
    out.send(stanza::error_reply(header, failure));
}

pub(super) fn command_parse_failure(error: CommandError) -> Failure {
    match error {
        CommandError::MalformedAction(action) => Failure::bad_request(format!(
            "{:?} is not an ad-hoc command action",
            quote(&action)
        ))
        .with_specific(SpecificCondition::MalformedAction),
        CommandError::BadPayload(reason) => {
            Failure::bad_request(format!("the submitted data form is invalid: {reason}"))
                .with_specific(SpecificCondition::BadPayload)
        }
        other => Failure::bad_request(format!("invalid ad-hoc command request: {other}")),
    }
}

#[cfg(test)]
mod tests;
