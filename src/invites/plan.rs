//! What a creation, an answer or a closing of invites does, decided from the [`Book`]
//! without changing it: the writes to commit and the [`Notice`]s to send once they are.
//! Applying the writes ([`Book::apply`]) then moves the book. Pure and clock-free, so a
//! property test drives it through every interleaving.

use super::{Answer, Book, How, Invite, Outcome, State, KIND, MAX_INVITEES};
use crate::store::{InviteRecord, PromptRecord, Write};

/// Someone (or something) to tell, once the writes are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The invitation message to an invitee of a new invite.
    Invitation {
        invite: Box<InviteRecord>,
        prompt: Box<PromptRecord>,
    },
    /// To the platform: an invitee's final answer, and the outcome after it.
    Answer {
        invite: String,
        invitee: String,
        answer: Answer,
        how: Option<How>,
        outcome: Outcome,
    },
    /// To the platform: the invite's outcome changed with no answer to carry it (a
    /// cancel once every invitee had answered).
    State {
        invite: String,
        state: State,
        outcome: Outcome,
    },
    /// To the host: an invitee answered (or nobody joined in time).
    Host {
        invite: String,
        invitee: String,
        answer: Answer,
        outcome: Outcome,
    },
    /// To a waiting invitee: the invite was cancelled.
    Withdrawn { invite: String, prompt: PromptRef },
    /// To the host: the platform cancelled the invite.
    Cancelled { invite: String },
}

/// An invitee's prompt, as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    pub id: String,
    pub user: String,
}

/// Writes to commit and notices to send after.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub notices: Vec<Notice>,
}

impl Plan {
    fn extend(&mut self, other: Plan) {
        self.writes.extend(other.writes);
        self.notices.extend(other.notices);
    }
}

/// Why an invitee is not sent an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Offline, or busy (`dnd`, `xa`).
    NotAvailable,
    /// Does not share with the platform (or is on another server where the operator's
    /// policy does not allow remote peers).
    NotConsenting,
    /// Muted invitations (from this host, or from anyone).
    Muted,
    /// The host sent too many invitations lately, or too many wait for the invitee.
    RateLimited,
    /// Not a mutual contact of the host.
    NotAContact,
    /// Declined this host repeatedly: not asked again for a while.
    Cooldown,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAvailable => "not-available",
            Refusal::NotConsenting => "not-consenting",
            Refusal::Muted => "muted",
            Refusal::RateLimited => "rate-limited",
            Refusal::NotAContact => "not-a-contact",
            Refusal::Cooldown => "cooldown",
        }
    }
}

/// What became of one wanted invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// Sent an invitation of the new invite.
    Sent {
        invite: String,
    },
    /// The invitee had invited the host: the host joined that invite.
    Joined {
        invite: String,
    },
    /// The host's invite to this invitee is still open.
    AlreadyInvited {
        invite: String,
    },
    /// The invitee's invite to the host is full.
    Full {
        invite: String,
    },
    Refused(Refusal),
}

impl Row {
    pub fn as_str(&self) -> &'static str {
        match self {
            Row::Sent { .. } => "sent",
            Row::Joined { .. } => "joined",
            Row::AlreadyInvited { .. } => "already-invited",
            Row::Full { .. } => "full",
            Row::Refused(refusal) => refusal.as_str(),
        }
    }

    pub fn invite(&self) -> Option<&str> {
        match self {
            Row::Sent { invite }
            | Row::Joined { invite }
            | Row::AlreadyInvited { invite }
            | Row::Full { invite } => Some(invite),
            Row::Refused(_) => None,
        }
    }
}

/// One wanted invitee, as the caller found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Bare JID.
    pub jid: String,
    /// The language their invitation is written in (`None`: English).
    pub lang: Option<String>,
    /// Why they may not be sent one, if so.
    pub refusal: Option<Refusal>,
}

/// A request to create an invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub platform: String,
    pub notify: String,
    pub host: String,
    pub game: String,
    pub session: String,
    pub join_uri: Option<String>,
    pub max_players: Option<u32>,
    pub now: u32,
    pub expires_at: u32,
    pub candidates: Vec<Candidate>,
    /// Invitations the host may still send now (the per-host rate).
    pub room: usize,
}

/// What a creation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The new invite, if any invitation was sent.
    pub invite: Option<String>,
    /// The invites the host joined instead (each the invitee's own invite to the host).
    pub joined: Vec<String>,
    /// Per wanted invitee, in the order asked.
    pub rows: Vec<(String, Row)>,
    pub plan: Plan,
}

impl Created {
    /// The invite the host's session is in: the new one, or else the first joined.
    pub fn surviving(&self) -> Option<&str> {
        self.invite
            .as_deref()
            .or(self.joined.first().map(String::as_str))
    }
}

/// Why a creation is refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many invites are held.
    Full,
    /// More than [`MAX_INVITEES`] invitees.
    TooMany,
}

/// Plans a creation. `new_id` gives fresh ids (for the invite and each invitation).
///
/// For each wanted invitee B of host A, in order:
/// 1. if an open invite of B links A (B invited A, and A has not declined), A joins it:
///    A's answer there is `accepted` (how: `merge`), and the platform is told;
/// 2. if A's own open invite links B, B is not asked again (`already-invited`);
/// 3. if B may not be asked (the caller's checks), B's refusal is reported;
/// 4. past the host's rate, `rate-limited`;
/// 5. otherwise B gets an invitation of the new invite, created if any is sent.
pub fn create(
    book: &Book,
    request: Create,
    mut new_id: impl FnMut() -> String,
) -> Result<Created, Refused> {
    if request.candidates.len() > MAX_INVITEES {
        return Err(Refused::TooMany);
    }
    let mut created = Created {
        invite: None,
        joined: Vec::new(),
        rows: Vec::new(),
        plan: Plan::default(),
    };
    let mut sendable: Vec<Candidate> = Vec::new();
    let order: Vec<String> = request.candidates.iter().map(|c| c.jid.clone()).collect();
    for candidate in request.candidates {
        let seen = candidate.jid == request.host
            || created.rows.iter().any(|(jid, _)| *jid == candidate.jid)
            || sendable.iter().any(|c| c.jid == candidate.jid);
        if seen {
            if candidate.jid == request.host {
                created
                    .rows
                    .push((candidate.jid, Row::Refused(Refusal::NotAContact)));
            }
            continue;
        }
        if let Some(other) = book.link(&request.platform, &request.host, &candidate.jid) {
            let row = if other.record.host == candidate.jid {
                join(book, other, &request.host, request.now, &mut created)
            } else {
                Row::AlreadyInvited {
                    invite: other.record.id.clone(),
                }
            };
            created.rows.push((candidate.jid, row));
            continue;
        }
        if let Some(refusal) = candidate.refusal {
            created.rows.push((candidate.jid, Row::Refused(refusal)));
            continue;
        }
        if sendable.len() >= request.room {
            created
                .rows
                .push((candidate.jid, Row::Refused(Refusal::RateLimited)));
            continue;
        }
        sendable.push(candidate);
    }
    if !sendable.is_empty() && !book.has_room() {
        return Err(Refused::Full);
    }
    if sendable.is_empty() {
        return Ok(created);
    }
    let id = new_id();
    let record = InviteRecord {
        id: id.clone(),
        platform: request.platform.clone(),
        notify: request.notify.clone(),
        host: request.host.clone(),
        game: request.game,
        session: request.session,
        join_uri: request.join_uri,
        max_players: request.max_players,
        sent: sendable.len() as u32,
        created_at: request.now,
        expires_at: request.expires_at,
        state: State::Open,
        changed_at: request.now,
    };
    created.plan.writes.push(Write::Invite(record.clone()));
    for candidate in sendable {
        let prompt = PromptRecord {
            invite: Some(id.clone()),
            lang: candidate.lang,
            ..PromptRecord::new(
                new_id(),
                KIND,
                candidate.jid.clone(),
                request.platform.clone(),
                request.notify.clone(),
                request.now,
                request.expires_at,
            )
        };
        created.plan.writes.push(Write::Prompt(prompt.clone()));
        created.plan.notices.push(Notice::Invitation {
            invite: Box::new(record.clone()),
            prompt: Box::new(prompt),
        });
        created
            .rows
            .push((candidate.jid, Row::Sent { invite: id.clone() }));
    }
    created.invite = Some(id);
    // Rows in the order asked.
    created
        .rows
        .sort_by_key(|(jid, _)| order.iter().position(|j| j == jid));
    Ok(created)
}

/// The host of a new request joins `other`, the invitee's own invite to them.
fn join(book: &Book, other: &Invite, host: &str, now: u32, created: &mut Created) -> Row {
    let invite = other.record.id.clone();
    let Some(me) = other.invitee(host) else {
        return Row::AlreadyInvited { invite };
    };
    if me.answer.is_none() {
        if let Some(plan) = answer(book, &me.prompt, Answer::Accepted, Some(How::Merge), now) {
            let full = plan.writes.iter().any(|w| {
                matches!(w, Write::PromptAnswer { answer, .. } if *answer == Answer::Full.stored())
            });
            created.plan.extend(plan);
            if full {
                return Row::Full { invite };
            }
        }
    }
    created.joined.push(invite.clone());
    Row::Joined { invite }
}

/// Plans an invitee's answer to the invitation `prompt`; `None` when it is not waiting
/// for one. An acceptance once the session has all its players is recorded as `full`.
pub fn answer(
    book: &Book,
    prompt: &str,
    answer: Answer,
    how: Option<How>,
    at: u32,
) -> Option<Plan> {
    let invite = book.of_prompt(prompt)?;
    let invitee = invite.invitees.iter().find(|i| i.prompt == prompt)?;
    if invitee.answer.is_some() {
        return None;
    }
    let full = invite
        .record
        .max_players
        .is_some_and(|max| invite.accepted() + 1 >= max as usize);
    let answer = if answer == Answer::Accepted && full {
        Answer::Full
    } else {
        answer
    };
    let before = invite.outcome();
    let after = Outcome::of(
        invite.state(),
        invite.invitees.iter().map(|i| {
            if i.prompt == prompt {
                Some(answer)
            } else {
                i.answer
            }
        }),
    );
    let mut plan = Plan::default();
    plan.writes.push(Write::PromptAnswer {
        id: prompt.to_owned(),
        answer: answer.stored(),
        at,
        how: how.map(How::as_str),
    });
    plan.notices.push(Notice::Answer {
        invite: invite.record.id.clone(),
        invitee: invitee.jid.clone(),
        answer,
        how,
        outcome: after,
    });
    let tell_host = matches!(answer, Answer::Accepted | Answer::Declined | Answer::Full)
        || (answer == Answer::Expired && after == Outcome::Solo && before != after);
    if tell_host {
        plan.notices.push(Notice::Host {
            invite: invite.record.id.clone(),
            invitee: invitee.jid.clone(),
            answer,
            outcome: after,
        });
    }
    Some(plan)
}

/// Plans the end of invite `id`'s session, which the platform did not end in time
/// ([`Book::ending`]): as `session-ended` would, and the platform is told it ended.
pub fn end(book: &Book, id: &str, at: u32) -> Result<Plan, CloseError> {
    let mut plan = close(book, id, State::Ended, at)?;
    if !plan
        .notices
        .iter()
        .any(|n| matches!(n, Notice::State { .. }))
    {
        let invite = book.get(id).ok_or(CloseError::NotOpen)?;
        plan.notices.push(Notice::State {
            invite: id.to_owned(),
            state: State::Ended,
            outcome: Outcome::of(
                State::Ended,
                invite
                    .invitees
                    .iter()
                    .map(|i| Some(i.answer.unwrap_or(Answer::Closed))),
            ),
        });
    }
    Ok(plan)
}

/// Why an invite cannot be closed so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseError {
    /// Not held: unknown, or closed, or past its expiry.
    NotOpen,
    /// The session already started (it can only end now).
    Started,
}

/// Plans moving invite `id` to `state` (`started`, `ended` or `cancelled`). Invitees
/// still waiting are answered for: `cancelled` (and told so) or `closed`.
pub fn close(book: &Book, id: &str, state: State, at: u32) -> Result<Plan, CloseError> {
    let invite = book.get(id).ok_or(CloseError::NotOpen)?;
    match (invite.state(), state) {
        (State::Open, _) | (State::Started, State::Ended) => {}
        (State::Started, _) => return Err(CloseError::Started),
        _ => return Err(CloseError::NotOpen),
    }
    let mut plan = Plan::default();
    plan.writes.push(Write::InviteState {
        id: id.to_owned(),
        state: state.as_str(),
        at,
    });
    let answer = if state == State::Cancelled {
        Answer::Cancelled
    } else {
        Answer::Closed
    };
    let after = Outcome::of(
        state,
        invite
            .invitees
            .iter()
            .map(|i| Some(i.answer.unwrap_or(answer))),
    );
    let mut answered = false;
    for invitee in invite.pending() {
        answered = true;
        plan.writes.push(Write::PromptAnswer {
            id: invitee.prompt.clone(),
            answer: answer.stored(),
            at,
            how: None,
        });
        plan.notices.push(Notice::Answer {
            invite: id.to_owned(),
            invitee: invitee.jid.clone(),
            answer,
            how: None,
            outcome: after,
        });
        if state == State::Cancelled {
            plan.notices.push(Notice::Withdrawn {
                invite: id.to_owned(),
                prompt: PromptRef {
                    id: invitee.prompt.clone(),
                    user: invitee.jid.clone(),
                },
            });
        }
    }
    if state == State::Cancelled {
        plan.notices.push(Notice::Cancelled {
            invite: id.to_owned(),
        });
    }
    if !answered && after != invite.outcome() {
        plan.notices.push(Notice::State {
            invite: id.to_owned(),
            state,
            outcome: after,
        });
    }
    Ok(plan)
}
