//! What the core does when time passes: prompts that expire, invites retired, sessions
//! that end by themselves, and invitations sent again after a restart.

use std::str::FromStr;
use std::time::SystemTime;

use minidom::Element;
use tracing::debug;
use xmpp_parsers::jid::{BareJid, Jid};

use super::storage::{After, Carried, Carrying};
use super::{Core, Outbox};
use crate::commands;
use crate::rights::Access;

impl Core {
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
            self.carry_out(plan, told, Carried::Expiry(id), now, out);
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
        let what = Carried::SessionEnd {
            invite: id.to_owned(),
            started,
            platform,
            players,
        };
        self.carry_out(plan, None, what, now, out);
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
        use crate::commands::gaming::{publish, publishable};
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

    /// Stores a plan of the core's own (an expiry, a session's end); once it is stored,
    /// brings memory in line, then sends what it tells, and `also`.
    pub(super) fn carry_out(
        &mut self,
        plan: crate::invites::plan::Plan,
        also: Option<Element>,
        what: Carried,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        // As a handler's outputs: news for platforms that asked over HTTP go in the
        // same transaction (Out::send), the rest is sent once it is stored.
        let mut told = commands::Out::default();
        for write in plan.writes {
            told.write(write);
        }
        let messages = self.tell(now).messages(&plan.notices);
        for message in messages
            .into_iter()
            .chain(also.map(crate::wire::Stanza::Tree))
        {
            told.send(message);
        }
        let writes = told.take_writes();
        let carrying = Carrying {
            effects: told.take_effects(),
            what,
        };
        self.store(
            crate::store::Job::Commit(writes),
            After::Carry(Box::new(carrying)),
            now,
            out,
        );
    }

    /// A timer's plan is stored (or could not be: tried again a second later).
    pub(super) fn carried(
        &mut self,
        carrying: Carrying,
        writes: Vec<crate::store::Write>,
        stored: Result<(), crate::store::StoreError>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let secs = crate::directory::unix_secs(now);
        let Carrying { effects, what } = carrying;
        if let Err(e) = stored {
            self.state.health.stats.storage_failures += 1;
            match what {
                // Answered meanwhile: nothing to expire.
                Carried::Expiry(_) if matches!(e, crate::store::StoreError::Conflict(_)) => {}
                Carried::Expiry(id) => {
                    // The prompt stays waiting meanwhile.
                    debug!(error = %e, "cannot record an expired prompt; tried again in a second");
                    self.state.prompts.retry_expiry(&id, secs + 1);
                }
                Carried::SessionEnd { invite, .. } => {
                    debug!(error = %e, %invite, "cannot record the end of a session; tried again in a second");
                    self.state.invites.end_later(&invite, secs + 1);
                }
            }
            return;
        }
        self.state.health.stats.storage_writes += 1;
        out.news_written |= writes
            .iter()
            .any(|w| matches!(w, crate::store::Write::News(_)));
        self.applied(writes);
        for effect in effects {
            if let commands::Effect::Send(message) = effect {
                out.send(message);
            }
        }
        if let Carried::SessionEnd {
            invite,
            started,
            platform,
            players,
        } = what
        {
            tracing::info!(%invite, "a session its platform did not end ended by itself (invites.session_max_secs)");
            if started {
                self.clear_playing(&platform, &players, now, out);
            }
        }
    }

    /// Invitations stored but perhaps never sent (the bridge stopped between the two):
    /// sent again at the first connection, with the same ids and `origin-id`, so that
    /// clients that saw the first copy can tell.
    pub(super) fn resend_invitations(&mut self, now: SystemTime, out: &mut Outbox) {
        if self.resent {
            return;
        }
        self.resent = true;
        self.store(crate::store::Job::Unsent, After::Unsent, now, out);
    }

    /// Sends `unsent` again (see [`Core::resend_invitations`]).
    pub(super) fn send_again(
        &mut self,
        unsent: Vec<crate::store::PromptRecord>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
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
}
