//! Multi-step command sessions (XEP-0050 §3.4): state kept between steps, bound to the
//! full JID that started them, and expired after a configurable idle time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use xmpp_parsers::jid::Jid;

use super::Node;
use crate::core::deadlines::Deadlines;
use crate::core::failure::{quote, Failure};
use crate::xep::commands::{Actions, SpecificCondition};

/// What a multi-step command remembers between steps, per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// `peers` showed its form and waits for the user's JID.
    AskedForUser,
    /// `status` showed its form and waits for the users' JIDs.
    AskedForUsers,
    #[cfg(test)]
    EchoFirst { first: String },
}

#[derive(Debug)]
pub struct Session {
    pub node: Node,
    pub owner: Jid,
    pub stage: Stage,
    pub actions: Actions,
    pub expires_at: SystemTime,
}

/// How many expired session ids are remembered to answer `session-expired` rather than
/// `bad-sessionid`.
const EXPIRED_MEMORY: usize = 1024;

/// Unfinished multi-step sessions kept at once, over all requesters.
pub const MAX_LIVE: usize = 10_000;

#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    next: u64,
    salt: u64,
    live: HashMap<String, Session>,
    deadlines: Deadlines<String>,
    expired: VecDeque<String>,
}

impl Sessions {
    /// `salt` makes ids unguessable across restarts; it comes from the caller so the
    /// session machinery stays deterministic in tests.
    pub fn new(lifetime: Duration, salt: u64) -> Sessions {
        Sessions {
            lifetime,
            next: 0,
            salt,
            live: HashMap::new(),
            deadlines: Deadlines::default(),
            expired: VecDeque::new(),
        }
    }

    pub fn new_id(&mut self) -> String {
        self.next += 1;
        format!("{:x}-{}", self.salt, self.next)
    }

    pub fn insert(
        &mut self,
        id: String,
        node: Node,
        owner: Jid,
        stage: Stage,
        actions: Actions,
        now: SystemTime,
    ) {
        if self.live.len() >= MAX_LIVE {
            // Unfinished sessions are cheap but not free: past the cap, the one closest to
            // expiry goes first (and answers session-expired if it comes back).
            while let Some((at, oldest)) = self.deadlines.pop_due(now + self.lifetime) {
                if self.live.get(&oldest).is_some_and(|s| s.expires_at == at) {
                    self.live.remove(&oldest);
                    self.remember_expired(oldest);
                    break;
                }
            }
        }
        self.restore(
            id,
            Session {
                node,
                owner,
                stage,
                actions,
                expires_at: now,
            },
            now,
        );
    }

    /// Puts back a session taken for a step that was refused.
    /// The requester was active in time, so the session gets its full lifetime again.
    pub fn restore(&mut self, id: String, mut session: Session, now: SystemTime) {
        session.expires_at = now + self.lifetime;
        self.deadlines.push(session.expires_at, id.clone());
        self.live.insert(id, session);
        self.deadlines.compact(
            self.live.len(),
            self.live.iter().map(|(id, s)| (s.expires_at, id.clone())),
        );
    }

    /// Takes the session for the next step, or says why there is none.
    pub fn take(
        &mut self,
        id: &str,
        node: Node,
        requester: &Jid,
        now: SystemTime,
    ) -> Result<Session, Failure> {
        self.expire(now);
        let belongs = self
            .live
            .get(id)
            .is_some_and(|s| s.node == node && &s.owner == requester);
        if belongs {
            if let Some(session) = self.live.remove(id) {
                return Ok(session);
            }
        }
        if self.expired.iter().any(|e| e == id) {
            return Err(Failure::not_allowed(
                "this command session expired; start the command again",
            )
            .with_specific(SpecificCondition::SessionExpired));
        }
        Err(Failure::bad_request(format!(
            "there is no command session {:?} for you on this node",
            quote(id)
        ))
        .with_specific(SpecificCondition::BadSessionid))
    }

    /// Drops sessions idle past their lifetime, remembering their ids for a while.
    pub fn expire(&mut self, now: SystemTime) {
        while let Some((at, id)) = self.deadlines.pop_due(now) {
            // Taken for a step, finished or given a new lifetime meanwhile: stale.
            if self.live.get(&id).is_some_and(|s| s.expires_at == at) {
                self.live.remove(&id);
                self.remember_expired(id);
            }
        }
    }

    fn remember_expired(&mut self, id: String) {
        if self.expired.len() == EXPIRED_MEMORY {
            self.expired.pop_front();
        }
        self.expired.push_back(id);
    }

    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.deadlines.next()
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! A two-step test command, and walks through the XEP-0050 session rules with it.
    use super::super::{Context, Reply, Requester, Step};
    use super::*;
    use crate::commands::execute;
    use crate::core::State;
    use crate::xep::commands::{Action, Command, Status};
    use crate::xep::forms::{DataForm, Field, FormType};
    use std::str::FromStr;

    pub(crate) fn echo_start(_form: Option<&DataForm>) -> Result<Step, Failure> {
        let mut form = DataForm::new(FormType::Form, Some("urn:test:echo"));
        form.push_field(Field::text_single("first", "First word", None));
        Ok(Step::Continue {
            form,
            actions: Actions {
                execute: Some(Action::Next),
                allowed: vec![Action::Next],
            },
            stage: Stage::EchoFirst {
                first: String::new(),
            },
        })
    }

    pub(crate) fn echo_advance(
        stage: Stage,
        action: Action,
        form: Option<&DataForm>,
    ) -> Result<Step, Failure> {
        let Stage::EchoFirst { first } = stage else {
            return Err(Failure::bad_request("wrong stage"));
        };
        let word = form.and_then(|f| f.value("word").or(f.value("first")));
        match (action, first.is_empty()) {
            (Action::Next, true) => {
                let first = word
                    .ok_or_else(|| Failure::bad_request("field \"first\" is required"))?
                    .to_owned();
                let mut form = DataForm::new(FormType::Form, Some("urn:test:echo"));
                form.push_field(Field::text_single("word", "Second word", None));
                Ok(Step::Continue {
                    form,
                    actions: Actions {
                        execute: Some(Action::Complete),
                        allowed: vec![Action::Prev, Action::Complete],
                    },
                    stage: Stage::EchoFirst { first },
                })
            }
            (Action::Prev, false) => echo_start(None),
            (Action::Complete, false) => {
                let mut result = DataForm::new(FormType::Result, Some("urn:test:echo"));
                result.push_field(Field::value(
                    "echo",
                    format!("{first} {}", word.unwrap_or("")),
                ));
                Ok(Step::Completed {
                    form: Some(result),
                    notes: vec![],
                })
            }
            _ => Err(Failure::bad_request("unexpected action")),
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    struct Bed {
        state: State,
        sessions: Sessions,
        alice: Requester,
    }

    impl Bed {
        fn new() -> Bed {
            Bed {
                state: State::for_tests(),
                sessions: Sessions::new(Duration::from_secs(60), 0xabc),
                alice: Requester {
                    jid: Jid::from_str("alice@example.test/pc").unwrap(),
                    admin: false,
                    platform: false,
                },
            }
        }

        /// Starts the echo command at t(0) and returns its session id.
        fn start_echo(&mut self) -> String {
            self.run(Command::request("test-echo"), t(0))
                .unwrap()
                .sessionid
                .unwrap()
        }

        fn run(&mut self, request: Command, now: SystemTime) -> Result<Command, Failure> {
            self.run_as(request, now, self.alice.clone())
        }

        fn run_as(
            &mut self,
            request: Command,
            now: SystemTime,
            requester: Requester,
        ) -> Result<Command, Failure> {
            let mut ctx = Context {
                now,
                requester: &requester,
                state: &mut self.state,
                waited: Default::default(),
                max_reply_bytes: 256 * 1024,
            };
            let node = crate::commands::admit(&request.node, &requester)?;
            match execute(node, request, &mut self.sessions, &mut ctx)? {
                Reply::Done(command) => Ok(*command),
                Reply::Wait(needs) => panic!("unexpected wait for {needs:?}"),
            }
        }
    }

    fn step(sessionid: &str, action: Option<Action>, field: Option<(&str, &str)>) -> Command {
        let mut request = Command::request("test-echo");
        request.sessionid = Some(sessionid.to_owned());
        request.action = action;
        if let Some((var, value)) = field {
            let mut form = DataForm::new(FormType::Submit, Some("urn:test:echo"));
            form.push_field(Field::value(var, value));
            request.form = Some(form);
        }
        request
    }

    #[test]
    fn two_step_command_completes_with_both_inputs() {
        let mut bed = Bed::new();
        let first = bed.run(Command::request("test-echo"), t(0)).unwrap();
        assert_eq!(first.status, Some(Status::Executing));
        let id = first.sessionid.clone().unwrap();
        let second = bed
            .run(
                step(&id, Some(Action::Next), Some(("first", "hello"))),
                t(1),
            )
            .unwrap();
        assert_eq!(second.sessionid.as_deref(), Some(id.as_str()));
        assert_eq!(
            second.actions.as_ref().unwrap().execute,
            Some(Action::Complete)
        );
        let done = bed
            .run(step(&id, None, Some(("word", "world"))), t(2))
            .unwrap();
        assert_eq!(done.status, Some(Status::Completed));
        assert_eq!(done.form.unwrap().value("echo"), Some("hello world"));
        assert!(bed.sessions.is_empty());
    }

    #[test]
    fn cancel_ends_the_session() {
        let mut bed = Bed::new();
        let id = bed.start_echo();
        let canceled = bed
            .run(step(&id, Some(Action::Cancel), None), t(1))
            .unwrap();
        assert_eq!(canceled.status, Some(Status::Canceled));
        let err = bed
            .run(step(&id, Some(Action::Next), Some(("first", "x"))), t(2))
            .unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::BadSessionid));
    }

    #[test]
    fn action_not_offered_is_bad_action_and_keeps_the_session() {
        let mut bed = Bed::new();
        let id = bed.start_echo();
        let err = bed
            .run(step(&id, Some(Action::Complete), None), t(1))
            .unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::BadAction));
        assert!(bed
            .run(step(&id, Some(Action::Next), Some(("first", "x"))), t(2))
            .is_ok());
    }

    #[test]
    fn a_refused_submission_keeps_the_session_for_a_corrected_one() {
        let mut bed = Bed::new();
        let id = bed.start_echo();
        // No "first" field: the handler refuses the step.
        let err = bed
            .run(step(&id, Some(Action::Next), None), t(1))
            .unwrap_err();
        assert_eq!(
            err.condition,
            xmpp_parsers::stanza_error::DefinedCondition::BadRequest
        );
        let next = bed
            .run(
                step(&id, Some(Action::Next), Some(("first", "hello"))),
                t(2),
            )
            .unwrap();
        assert_eq!(next.status, Some(Status::Executing));
    }

    #[test]
    fn past_the_cap_the_session_closest_to_expiry_makes_room() {
        let mut sessions = Sessions::new(Duration::from_secs(60), 1);
        let owner = Jid::from_str("game@example.test/x").unwrap();
        let actions = Actions {
            execute: None,
            allowed: vec![],
        };
        for i in 0..=MAX_LIVE {
            sessions.insert(
                format!("s{i}"),
                Node::Echo,
                owner.clone(),
                Stage::AskedForUser,
                actions.clone(),
                t(i as u64),
            );
        }
        assert_eq!(sessions.len(), MAX_LIVE);
        let err = sessions.take("s0", Node::Echo, &owner, t(0)).unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::SessionExpired));
    }

    #[test]
    fn idle_session_expires() {
        let mut bed = Bed::new();
        let id = bed.start_echo();
        let err = bed
            .run(step(&id, Some(Action::Next), Some(("first", "x"))), t(61))
            .unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::SessionExpired));
        assert_eq!(
            err.condition,
            xmpp_parsers::stanza_error::DefinedCondition::NotAllowed
        );
    }

    #[test]
    fn another_resource_cannot_continue_the_session() {
        let mut bed = Bed::new();
        let id = bed.start_echo();
        let phone = Requester {
            jid: Jid::from_str("alice@example.test/phone").unwrap(),
            admin: false,
            platform: false,
        };
        let err = bed
            .run_as(
                step(&id, Some(Action::Next), Some(("first", "x"))),
                t(1),
                phone,
            )
            .unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::BadSessionid));
    }

    #[test]
    fn next_without_a_session_is_bad_sessionid() {
        let mut bed = Bed::new();
        let mut request = Command::request("test-echo");
        request.action = Some(Action::Next);
        let err = bed.run(request, t(0)).unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::BadSessionid));
    }

    #[test]
    fn unknown_node_is_item_not_found() {
        let mut bed = Bed::new();
        let err = bed.run(Command::request("nope"), t(0)).unwrap_err();
        assert_eq!(
            err.condition,
            xmpp_parsers::stanza_error::DefinedCondition::ItemNotFound
        );
    }

    #[test]
    fn stats_is_forbidden_for_non_admins() {
        let mut bed = Bed::new();
        let err = bed.run(Command::request("stats"), t(0)).unwrap_err();
        assert_eq!(
            err.condition,
            xmpp_parsers::stanza_error::DefinedCondition::Forbidden
        );
        assert!(err.text.contains("operators"));
    }
}
