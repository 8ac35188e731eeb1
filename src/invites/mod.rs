//! Game invites: a host asks invitees to join a session on a platform; each invitee
//! answers (or the invite expires, is cancelled, or its session starts first), and the
//! invite's outcome tells the platform what to start.
//!
//! Each invitee is a prompt (kind [`KIND`]), so an invitation is answered the four
//! ways every prompt is. The [`Book`] holds the invites that may still change and
//! indexes who is linked to whom; [`plan`] decides, without changing anything, what a
//! creation, an answer or a closing writes and whom it tells. The core commits the
//! writes and then brings the book in line ([`Book::apply`]), so nothing is told that
//! was not stored, and a restart rebuilds the book from the database.
//!
//! **Links.** A host and an invitee who has not declined (or otherwise left) an open
//! invite are *linked* on that platform. At most one invite links any two users on a
//! platform: when A asks to invite B while B's invite to A is waiting, A joins B's
//! invite instead (see [`plan::create`]).
//!
//! Bounded: at most [`MAX_LIVE`] invites are held (past it a creation is refused with
//! `resource-constraint`), each with at most [`MAX_INVITEES`] invitees.

pub mod messages;
pub mod mutes;
pub mod plan;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashMap;

use crate::store::{InviteRecord, PromptRecord, Write};

/// The kind of an invitee's prompt.
pub const KIND: &str = "invite";
/// Invites held at once (open ones, and ready or started ones until their session ends).
pub const MAX_LIVE: usize = 100_000;
/// Hosts whose invitations of the last hour are counted (the per-host rate); at the cap,
/// a host not counted yet may send none until an hour-old count is forgotten (counted in
/// `invite-hosts-untracked`).
pub const MAX_HOSTS_COUNTED: usize = 1_000_000;
/// The window of the per-host rate.
pub const RATE_WINDOW_SECS: u32 = 3_600;
/// Pairs (invitee, host) whose run of declines is tracked; at the cap, runs older than
/// the cooldown are forgotten, and if that frees nothing a new run is not tracked
/// (counted in `declines-untracked`).
pub const MAX_DECLINE_RUNS: usize = 1_000_000;
/// Invitees of one invite.
pub const MAX_INVITEES: usize = 20;

/// The operator's settings (`[invites]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitesConfig {
    /// How long an invite waits for answers when the platform does not say.
    pub default_expiry_secs: u32,
    /// The longest a platform may ask for.
    pub max_expiry_secs: u32,
    /// Invitees one invite may name.
    pub max_invitees: usize,
    /// Invitation messages one host may send per hour, on all platforms together.
    pub per_host_per_hour: u32,
    /// After this many declines in a row of one host's invitations, an invitee gets
    /// none from that host for [`InvitesConfig::cooldown_secs`].
    pub declines_before_cooldown: u32,
    pub cooldown_secs: u32,
    /// A ready or started session the platform does not end (`session-ended`,
    /// `invite-cancel`) ends by itself this long after its invite was made (or at its
    /// expiry, if that is later).
    pub session_max_secs: u32,
}

impl Default for InvitesConfig {
    fn default() -> Self {
        InvitesConfig {
            default_expiry_secs: 300,
            max_expiry_secs: 3_600,
            max_invitees: 10,
            per_host_per_hour: 60,
            declines_before_cooldown: 3,
            cooldown_secs: 86_400,
            session_max_secs: 10_800,
        }
    }
}

/// An invitee's final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    Accepted,
    Declined,
    /// No answer before the invite's expiry.
    Expired,
    /// The platform cancelled the invite first.
    Cancelled,
    /// The session started (or ended) first.
    Closed,
    /// Accepted once the session had all its players.
    Full,
}

impl Answer {
    /// As the platform reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Accepted => "accepted",
            Answer::Declined => "declined",
            Answer::Expired => "expired",
            Answer::Cancelled => "cancelled",
            Answer::Closed => "closed",
            Answer::Full => "full",
        }
    }

    /// As the prompt table stores it.
    pub fn stored(self) -> &'static str {
        match self {
            Answer::Accepted => "yes",
            Answer::Declined => "no",
            other => other.as_str(),
        }
    }

    pub fn from_stored(stored: &str) -> Option<Answer> {
        Some(match stored {
            "yes" => Answer::Accepted,
            "no" => Answer::Declined,
            "expired" => Answer::Expired,
            "cancelled" => Answer::Cancelled,
            "closed" => Answer::Closed,
            "full" => Answer::Full,
            _ => return None,
        })
    }
}

/// How an answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum How {
    /// From the invitee's chat client (a word, a command, the form, `invitations`).
    Chat,
    /// From the platform, which asked the player in the game (`answer`).
    Platform,
    /// The invitee asked to invite the host at the same moment.
    Merge,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Chat => "chat",
            How::Platform => "platform",
            How::Merge => "merge",
        }
    }

    pub fn parse(stored: &str) -> Option<How> {
        Some(match stored {
            "chat" => How::Chat,
            "platform" => How::Platform,
            "merge" => How::Merge,
            _ => return None,
        })
    }
}

pub use crate::store::InviteState as State;

/// What the platform should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answers are pending and nobody accepted yet.
    Waiting,
    /// At least one invitee accepted: start (or keep) a multiplayer session.
    Ready,
    /// Nobody will join: start a single-player session.
    Solo,
    /// The platform cancelled it.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::Ready => "ready",
            Outcome::Solo => "solo",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The outcome of an invite in `state` whose invitees answered `answers` (`None`:
    /// still waiting).
    pub fn of(state: State, answers: impl IntoIterator<Item = Option<Answer>>) -> Outcome {
        if state == State::Cancelled {
            return Outcome::Cancelled;
        }
        let mut waiting = false;
        for answer in answers {
            match answer {
                Some(Answer::Accepted) => return Outcome::Ready,
                None => waiting = true,
                Some(_) => {}
            }
        }
        if waiting {
            Outcome::Waiting
        } else {
            Outcome::Solo
        }
    }
}

/// One invitee of an invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    /// Bare JID.
    pub jid: String,
    /// The id of the invitee's prompt: what they answer.
    pub prompt: String,
    pub answer: Option<Answer>,
    pub how: Option<How>,
}

/// An invite as the book holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub record: InviteRecord,
    pub invitees: Vec<Invitee>,
}

impl Invite {
    pub fn state(&self) -> State {
        self.record.state
    }

    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.state(), self.invitees.iter().map(|i| i.answer))
    }

    pub fn accepted(&self) -> usize {
        self.invitees
            .iter()
            .filter(|i| i.answer == Some(Answer::Accepted))
            .count()
    }

    pub fn invitee(&self, jid: &str) -> Option<&Invitee> {
        self.invitees.iter().find(|i| i.jid == jid)
    }

    pub fn pending(&self) -> impl Iterator<Item = &Invitee> {
        self.invitees.iter().filter(|i| i.answer.is_none())
    }

    /// Whether `invitee` is linked to the host by this invite.
    fn links(&self, invitee: &Invitee) -> bool {
        links(self.state(), invitee.answer)
    }
}

/// Whether an invitee who answered `answer` to an invite in `state` is linked to its host.
fn links(state: State, answer: Option<Answer>) -> bool {
    state.is_open() && matches!(answer, None | Some(Answer::Accepted))
}

/// Two users on one platform, in a fixed order.
type Pair = (Box<str>, Box<str>, Box<str>);

fn pair(platform: &str, a: &str, b: &str) -> Pair {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (platform.into(), lo.into(), hi.into())
}

/// The invites that may still change: those waiting for answers, and those ready or
/// started until their session ends.
#[derive(Debug)]
pub struct Book {
    /// How long a ready or started session lasts at most ([`InvitesConfig::session_max_secs`]).
    session_max_secs: u32,
    /// When each ready or started invite past its expiry ends by itself, soonest first.
    ends: BinaryHeap<Reverse<(u32, String)>>,
    /// Boxed: the table stays small, and growing it moves pointers, not invites.
    invites: HashMap<String, Box<Invite>>,
    /// Prompt id → invite id, for every invitee held.
    by_prompt: HashMap<String, String>,
    /// The one invite linking two users on a platform.
    links: HashMap<Pair, String>,
    /// When each invite may leave the book (its expiry), soonest first.
    expiries: BinaryHeap<Reverse<(u32, String)>>,
    /// (invitee, host) → declines in a row of the host's invitations, and when the last
    /// was given. An acceptance ends the run.
    declines: HashMap<(Box<str>, Box<str>), (u32, u32)>,
    /// Runs not tracked at [`MAX_DECLINE_RUNS`].
    pub declines_untracked: u64,
    /// Host → the invitations it sent within the last [`RATE_WINDOW_SECS`]: (when, how
    /// many), oldest first.
    sent: HashMap<Box<str>, std::collections::VecDeque<(u32, u32)>>,
    /// Requests refused at [`MAX_HOSTS_COUNTED`] (counted while reading).
    pub hosts_untracked: std::cell::Cell<u64>,
}

impl Default for Book {
    fn default() -> Book {
        Book::new(InvitesConfig::default().session_max_secs)
    }
}

impl Book {
    /// How long sessions made ready or started from now on last at most.
    pub fn set_session_max_secs(&mut self, secs: u32) {
        self.session_max_secs = secs;
    }

    pub fn new(session_max_secs: u32) -> Book {
        Book {
            session_max_secs,
            ends: BinaryHeap::new(),
            invites: HashMap::new(),
            by_prompt: HashMap::new(),
            links: HashMap::new(),
            expiries: BinaryHeap::new(),
            declines: HashMap::new(),
            declines_untracked: 0,
            sent: HashMap::new(),
            hosts_untracked: std::cell::Cell::new(0),
        }
    }

    /// When a ready or started session of `record` ends by itself.
    pub fn ends_at(&self, record: &InviteRecord) -> u32 {
        record
            .created_at
            .saturating_add(self.session_max_secs)
            .max(record.expires_at)
    }

    pub fn get(&self, id: &str) -> Option<&Invite> {
        self.invites.get(id).map(|i| &**i)
    }

    /// The invite `prompt` (an invitee's prompt id) belongs to.
    pub fn of_prompt(&self, prompt: &str) -> Option<&Invite> {
        self.get(self.by_prompt.get(prompt)?)
    }

    /// The invite linking `a` and `b` on `platform`, if any.
    pub fn link(&self, platform: &str, a: &str, b: &str) -> Option<&Invite> {
        self.get(self.links.get(&pair(platform, a, b))?)
    }

    pub fn len(&self) -> usize {
        self.invites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.invites.is_empty()
    }

    pub fn has_room(&self) -> bool {
        self.invites.len() < MAX_LIVE
    }

    pub fn iter(&self) -> impl Iterator<Item = &Invite> {
        self.invites.values().map(|i| &**i)
    }

    /// An invite read from the database, with its invitees' prompts.
    pub fn load(&mut self, record: InviteRecord, prompts: Vec<PromptRecord>) {
        let id = record.id.clone();
        self.open(record);
        for prompt in prompts {
            self.add(&prompt);
        }
        if let Some(invite) = self.invites.get(&id) {
            if !invite.state().is_open() {
                self.forget(&id);
            }
        }
    }

    /// Brings the book in line with a write just committed.
    pub fn apply(&mut self, write: &Write) {
        match write {
            Write::Invite(record) => {
                self.note_sent(&record.host, record.created_at, record.sent);
                self.open(record.clone())
            }
            Write::Prompt(prompt) => self.add(prompt),
            Write::PromptAnswer {
                id,
                answer,
                how,
                at,
            } => {
                if let Some(answer) = Answer::from_stored(answer) {
                    self.answered(id, answer, how.and_then(How::parse), *at);
                }
            }
            Write::InviteState { id, state, .. } => {
                if let Some(state) = State::parse(state) {
                    self.set_state(id, state);
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, record: InviteRecord) {
        self.expiries
            .push(Reverse((record.expires_at, record.id.clone())));
        self.invites.insert(
            record.id.clone(),
            Box::new(Invite {
                record,
                invitees: Vec::new(),
            }),
        );
    }

    fn add(&mut self, prompt: &PromptRecord) {
        let Some(invite_id) = &prompt.invite else {
            return;
        };
        let Some(invite) = self.invites.get_mut(invite_id) else {
            return;
        };
        let invitee = Invitee {
            jid: prompt.user.clone(),
            prompt: prompt.id.clone(),
            answer: prompt.answer.as_deref().and_then(Answer::from_stored),
            how: prompt.how.as_deref().and_then(How::parse),
        };
        if invite.links(&invitee) {
            self.links.insert(
                pair(&invite.record.platform, &invite.record.host, &invitee.jid),
                invite_id.clone(),
            );
        }
        self.by_prompt.insert(prompt.id.clone(), invite_id.clone());
        invite.invitees.push(invitee);
    }

    fn answered(&mut self, prompt: &str, answer: Answer, how: Option<How>, at: u32) {
        let Some(invite_id) = self.by_prompt.get(prompt) else {
            return;
        };
        let Some(invite) = self.invites.get_mut(invite_id) else {
            return;
        };
        let Some(invitee) = invite.invitees.iter_mut().find(|i| i.prompt == prompt) else {
            return;
        };
        invitee.answer = Some(answer);
        invitee.how = how;
        if !links(invite.record.state, invitee.answer) {
            let key = pair(&invite.record.platform, &invite.record.host, &invitee.jid);
            if self.links.get(&key) == Some(invite_id) {
                self.links.remove(&key);
            }
        }
        let (user, host) = (invitee.jid.clone(), invite.record.host.clone());
        self.note_answer(&user, &host, answer, at);
    }

    /// Counts a decline of `host`'s invitation by `user` (an acceptance ends the run).
    pub fn note_answer(&mut self, user: &str, host: &str, answer: Answer, at: u32) {
        let key = (Box::<str>::from(user), Box::<str>::from(host));
        match answer {
            Answer::Accepted => {
                self.declines.remove(&key);
            }
            Answer::Declined => {
                if let Some(run) = self.declines.get_mut(&key) {
                    run.0 = run.0.saturating_add(1);
                    run.1 = run.1.max(at);
                } else if self.declines.len() < MAX_DECLINE_RUNS {
                    self.declines.insert(key, (1, at));
                } else {
                    self.declines_untracked += 1;
                }
            }
            _ => {}
        }
    }

    /// Whether `user` declined `host`'s invitations at least `n` times in a row, the
    /// last one since `since`.
    pub fn declined(&self, user: &str, host: &str, n: u32, since: u32) -> bool {
        self.declines
            .get(&(Box::<str>::from(user), Box::<str>::from(host)))
            .is_some_and(|&(count, last)| count >= n && last >= since)
    }

    /// Counts invitations `host` sent at `at`.
    pub fn note_sent(&mut self, host: &str, at: u32, n: u32) {
        if let Some(times) = self.sent.get_mut(host) {
            times.push_back((at, n));
        } else if self.sent.len() < MAX_HOSTS_COUNTED {
            self.sent
                .insert(host.into(), std::collections::VecDeque::from([(at, n)]));
        }
    }

    /// How many more invitations `host` may send at `now`, of `per_hour`. At
    /// [`MAX_HOSTS_COUNTED`], a host not counted yet may send none.
    pub fn invitations_left(&self, host: &str, now: u32, per_hour: u32) -> u32 {
        let since = now.saturating_sub(RATE_WINDOW_SECS);
        match self.sent.get(host) {
            Some(times) => {
                let sent: u32 = times
                    .iter()
                    .filter(|(at, _)| *at >= since)
                    .map(|(_, n)| *n)
                    .sum();
                per_hour.saturating_sub(sent)
            }
            None if self.sent.len() >= MAX_HOSTS_COUNTED => {
                self.hosts_untracked.set(self.hosts_untracked.get() + 1);
                0
            }
            None => per_hour,
        }
    }

    /// Forgets counts of invitations sent before `before`.
    pub fn forget_sent(&mut self, before: u32) {
        self.sent.retain(|_, times| {
            while times.front().is_some_and(|(at, _)| *at < before) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// Hosts whose invitations are counted.
    pub fn hosts_counted(&self) -> usize {
        self.sent.len()
    }

    /// Forgets runs of declines whose last is before `before` (past any cooldown).
    pub fn forget_declines(&mut self, before: u32) {
        self.declines.retain(|_, &mut (_, last)| last >= before);
    }

    /// Runs of declines tracked.
    pub fn decline_runs(&self) -> usize {
        self.declines.len()
    }

    fn set_state(&mut self, id: &str, state: State) {
        let Some(invite) = self.invites.get_mut(id) else {
            return;
        };
        invite.record.state = state;
        if !state.is_open() {
            self.forget(id);
        }
    }

    /// Takes an invite out of the book, with its links.
    fn forget(&mut self, id: &str) {
        let Some(invite) = self.invites.remove(id) else {
            return;
        };
        for invitee in &invite.invitees {
            self.by_prompt.remove(&invitee.prompt);
            let key = pair(&invite.record.platform, &invite.record.host, &invitee.jid);
            if self.links.get(&key).map(String::as_str) == Some(id) {
                self.links.remove(&key);
            }
        }
    }

    /// Lets go of the invites past their expiry at `now` whose invitees all answered and
    /// whose session is not on (nobody joined, or it was cancelled): their outcome can no
    /// longer change (the database keeps them for `invite-status`). Their ids, soonest
    /// first. A ready or started one is held until its session ends ([`Book::ending`]).
    pub fn retire(&mut self, now: u32) -> Vec<String> {
        let mut retired = Vec::new();
        let mut later = Vec::new();
        while let Some(Reverse((at, _))) = self.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = self.expiries.pop() else {
                break;
            };
            match self.invites.get(&id) {
                Some(invite) if invite.record.expires_at == at => {
                    let on = invite.outcome() == Outcome::Ready || invite.state() == State::Started;
                    if invite.pending().next().is_some() {
                        // Its invitees' expiries are being recorded: looked at again.
                        later.push(Reverse((now.saturating_add(1), id)));
                    } else if on {
                        let ends_at = self.ends_at(&invite.record);
                        self.ends.push(Reverse((ends_at, id)));
                    } else {
                        self.forget(&id);
                        retired.push(id);
                    }
                }
                _ => {}
            }
        }
        self.expiries.extend(later);
        if self.expiries.len() > 2 * self.invites.len() + 1024 {
            let invites = &self.invites;
            self.expiries
                .retain(|Reverse((_, id))| invites.contains_key(id));
        }
        retired
    }

    /// The ready or started sessions past their end at `now` (still held: the core ends
    /// them, which forgets them), soonest first.
    pub fn ending(&mut self, now: u32) -> Vec<String> {
        let mut due = Vec::new();
        // An ending put back ([`Book::end_later`]) may be in the heap twice.
        let mut seen = hashbrown::HashSet::new();
        while let Some(Reverse((at, _))) = self.ends.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, id))) = self.ends.pop() else {
                break;
            };
            if self.invites.contains_key(&id) && seen.insert(id.clone()) {
                due.push(id);
            }
        }
        if self.ends.len() > 2 * self.invites.len() + 1024 {
            let invites = &self.invites;
            self.ends
                .retain(|Reverse((_, id))| invites.contains_key(id));
        }
        due
    }

    /// Puts an ending back, to be tried again at `at` (its end could not be recorded).
    pub fn end_later(&mut self, id: &str, at: u32) {
        self.ends.push(Reverse((at, id.to_owned())));
    }

    /// When the next invite may leave the book, or its session end.
    pub fn next_expiry(&self) -> Option<u32> {
        let expiry = self.expiries.peek().map(|Reverse((at, _))| *at);
        let end = self.ends.peek().map(|Reverse((at, _))| *at);
        match (expiry, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks the book's own indexes against its invites (tests).
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let mut links: HashMap<Pair, String> = HashMap::new();
        for invite in self.invites.values() {
            for invitee in &invite.invitees {
                if self.by_prompt.get(&invitee.prompt) != Some(&invite.record.id) {
                    return Err(format!("prompt {} not indexed", invitee.prompt));
                }
                if invite.links(invitee) {
                    let key = pair(&invite.record.platform, &invite.record.host, &invitee.jid);
                    if let Some(other) = links.insert(key, invite.record.id.clone()) {
                        return Err(format!(
                            "{} and {} both link {} and {}",
                            other, invite.record.id, invite.record.host, invitee.jid
                        ));
                    }
                }
            }
        }
        if links != self.links {
            return Err(format!(
                "link index differs: {:?} vs {:?}",
                self.links, links
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
