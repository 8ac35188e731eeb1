//! The invite state machine walked with a fake clock, and the merge of crossed creations
//! checked under every interleaving of a small scenario and under generated ones.

use std::collections::HashMap;

use proptest::prelude::*;

use super::plan::{self, Candidate, Create, Created, Notice, Plan, Refusal, Row};
use super::*;

const EXPIRY: u32 = 100;
/// How long a ready or started session lasts at most, from its invite's creation.
const SESSION: u32 = 1_000;

/// The book, a clock and everything told, driven the way the core drives it: plan,
/// commit (here: always works), apply, tell.
struct World {
    book: Book,
    now: u32,
    next_id: u32,
    told: Vec<Notice>,
}

impl Default for World {
    fn default() -> World {
        World {
            book: Book::new(SESSION),
            now: 0,
            next_id: 0,
            told: Vec::new(),
        }
    }
}

impl World {
    fn commit(&mut self, plan: Plan) {
        for write in &plan.writes {
            self.book.apply(write);
        }
        self.told.extend(plan.notices);
    }

    fn create_on(&mut self, platform: &str, host: &str, invitees: &[&str]) -> Created {
        let request = Create {
            platform: platform.to_owned(),
            notify: format!("{platform}/bot"),
            host: host.to_owned(),
            game: "Chess".to_owned(),
            session: "s1".to_owned(),
            join_uri: None,
            max_players: None,
            now: self.now,
            expires_at: self.now + EXPIRY,
            candidates: invitees
                .iter()
                .map(|jid| Candidate {
                    jid: (*jid).to_owned(),
                    lang: None,
                    refusal: None,
                })
                .collect(),
            room: usize::MAX,
        };
        let next = &mut self.next_id;
        let created = plan::create(&self.book, request, || {
            *next += 1;
            format!("{:04x}", *next)
        })
        .unwrap();
        self.commit(created.plan.clone());
        created
    }

    fn create(&mut self, host: &str, invitees: &[&str]) -> Created {
        self.create_on("arcade", host, invitees)
    }

    /// `user` answers the `nth` invitation waiting for them (any invite).
    fn answer(&mut self, user: &str, nth: usize, answer: Answer) -> bool {
        let mut waiting: Vec<(u32, String)> = self
            .book
            .iter()
            .flat_map(|i| {
                i.pending()
                    .filter(|p| p.jid == user)
                    .map(|p| (i.record.created_at, p.prompt.clone()))
            })
            .collect();
        waiting.sort();
        let Some((_, prompt)) = waiting.get(nth % waiting.len().max(1)).cloned() else {
            return false;
        };
        let plan = plan::answer(&self.book, &prompt, answer, Some(How::Chat), self.now).unwrap();
        self.commit(plan);
        true
    }

    /// The clock moves on: invitations past their expiry expire, as the core's prompt
    /// queue finds them, then finished invites leave the book.
    fn tick(&mut self, secs: u32) {
        self.now += secs;
        let mut due: Vec<(u32, String)> = self
            .book
            .iter()
            .flat_map(|i| {
                i.pending()
                    .filter(|_| i.record.expires_at <= self.now)
                    .map(|p| (i.record.expires_at, p.prompt.clone()))
            })
            .collect();
        due.sort();
        for (_, prompt) in due {
            let plan = plan::answer(&self.book, &prompt, Answer::Expired, None, self.now).unwrap();
            self.commit(plan);
        }
        self.book.retire(self.now);
        for id in self.book.ending(self.now) {
            let plan = plan::end(&self.book, &id, self.now).unwrap();
            self.commit(plan);
        }
    }

    fn close(&mut self, nth: usize, state: State) -> bool {
        let mut ids: Vec<String> = self.book.iter().map(|i| i.record.id.clone()).collect();
        ids.sort();
        let Some(id) = ids.get(nth % ids.len().max(1)).cloned() else {
            return false;
        };
        match plan::close(&self.book, &id, state, self.now) {
            Ok(plan) => {
                self.commit(plan);
                true
            }
            Err(_) => false,
        }
    }

    fn answers_told(&self) -> Vec<(String, String, Answer, Outcome)> {
        self.told
            .iter()
            .filter_map(|n| match n {
                Notice::Answer {
                    invite,
                    invitee,
                    answer,
                    outcome,
                    ..
                } => Some((invite.clone(), invitee.clone(), *answer, *outcome)),
                _ => None,
            })
            .collect()
    }

    fn invitations(&self) -> Vec<(String, String)> {
        self.told
            .iter()
            .filter_map(|n| match n {
                Notice::Invitation { invite, prompt } => {
                    Some((invite.id.clone(), prompt.user.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// What must hold after every step.
    fn check(&self) -> Result<(), String> {
        // One invite at most links any two users on a platform (the index is checked
        // against a recount, which fails on a second link).
        self.book.check()?;
        for invite in self.book.iter() {
            if !invite.state().is_open() {
                return Err(format!("closed invite {} still held", invite.record.id));
            }
        }
        Ok(())
    }

    /// What must hold once everything is over.
    fn check_final(&self) -> Result<(), String> {
        let answers = self.answers_told();
        let mut count: HashMap<(String, String), usize> = HashMap::new();
        for (invite, invitee, _, _) in &answers {
            *count.entry((invite.clone(), invitee.clone())).or_default() += 1;
        }
        let invitations = self.invitations();
        // Every invitation was sent once, and its final answer told exactly once.
        let mut sent: HashMap<(String, String), usize> = HashMap::new();
        for key in &invitations {
            *sent.entry(key.clone()).or_default() += 1;
        }
        for (key, n) in &sent {
            if *n != 1 {
                return Err(format!("invitation {key:?} sent {n} times"));
            }
            if count.get(key) != Some(&1) {
                return Err(format!("answer of {key:?} told {:?} times", count.get(key)));
            }
        }
        if count.len() != sent.len() {
            return Err("an answer was told for no invitation".to_owned());
        }
        // The outcome told with each invite's last answer follows from its answers.
        let mut last: HashMap<String, (Vec<Answer>, Outcome)> = HashMap::new();
        for (invite, _, answer, outcome) in answers {
            let entry = last.entry(invite).or_insert((Vec::new(), outcome));
            entry.0.push(answer);
            entry.1 = outcome;
        }
        for (invite, (answers, outcome)) in last {
            let expected = if answers.contains(&Answer::Cancelled) {
                Outcome::Cancelled
            } else if answers.contains(&Answer::Accepted) {
                Outcome::Ready
            } else {
                Outcome::Solo
            };
            if outcome != expected && outcome != Outcome::Cancelled {
                return Err(format!("{invite} ended {outcome:?}, expected {expected:?}"));
            }
        }
        if !self.book.is_empty() {
            return Err(format!("{} invites still held", self.book.len()));
        }
        Ok(())
    }
}

fn row<'a>(created: &'a Created, jid: &str) -> &'a Row {
    &created.rows.iter().find(|(j, _)| j == jid).unwrap().1
}

#[test]
fn an_invite_walks_from_waiting_to_ready_and_leaves_at_its_expiry() {
    let mut w = World::default();
    let created = w.create("alice", &["bob", "carol"]);
    let id = created.invite.clone().unwrap();
    assert_eq!(w.book.get(&id).unwrap().outcome(), Outcome::Waiting);
    assert_eq!(w.invitations().len(), 2);
    w.tick(10);
    assert!(w.answer("bob", 0, Answer::Declined));
    assert_eq!(w.book.get(&id).unwrap().outcome(), Outcome::Waiting);
    assert!(w.answer("carol", 0, Answer::Accepted));
    assert_eq!(w.book.get(&id).unwrap().outcome(), Outcome::Ready);
    // Answered once: a second answer has nothing to answer.
    assert!(!w.answer("carol", 0, Answer::Declined));
    // Ready, it stays linked past its expiry, until its session ends by itself.
    assert!(w.book.link("arcade", "alice", "carol").is_some());
    assert!(w.book.link("arcade", "alice", "bob").is_none());
    w.tick(EXPIRY);
    assert!(w.book.link("arcade", "alice", "carol").is_some());
    assert_eq!(w.book.next_expiry(), Some(SESSION));
    w.tick(SESSION - EXPIRY - 11);
    assert!(w.book.get(&id).is_some());
    w.tick(1);
    assert!(w.book.get(&id).is_none());
    assert!(w.book.link("arcade", "alice", "carol").is_none());
    assert!(
        w.told.iter().any(|n| matches!(
            n,
            Notice::State { invite, state: State::Ended, outcome: Outcome::Ready } if *invite == id
        )),
        "the platform is told the session ended"
    );
    let told = w.answers_told();
    assert_eq!(
        told,
        vec![
            (id.clone(), "bob".into(), Answer::Declined, Outcome::Waiting),
            (id.clone(), "carol".into(), Answer::Accepted, Outcome::Ready),
        ]
    );
    let host: Vec<_> = w
        .told
        .iter()
        .filter(|n| matches!(n, Notice::Host { .. }))
        .collect();
    assert_eq!(host.len(), 2, "the host hears of each answer");
    w.check_final().unwrap();
}

#[test]
fn nobody_answering_ends_solo_and_the_host_is_told_once() {
    let mut w = World::default();
    let id = w.create("alice", &["bob", "carol"]).invite.unwrap();
    w.tick(EXPIRY - 1);
    assert_eq!(w.book.get(&id).unwrap().outcome(), Outcome::Waiting);
    w.tick(1);
    let told = w.answers_told();
    assert_eq!(told.len(), 2);
    assert_eq!(told[0].3, Outcome::Waiting);
    assert_eq!(
        told[1],
        (id, "carol".into(), Answer::Expired, Outcome::Solo)
    );
    let host: Vec<_> = w
        .told
        .iter()
        .filter(|n| matches!(n, Notice::Host { .. }))
        .collect();
    assert_eq!(host.len(), 1);
    w.check_final().unwrap();
}

#[test]
fn declined_by_all_is_solo_at_once() {
    let mut w = World::default();
    let id = w.create("alice", &["bob", "carol"]).invite.unwrap();
    w.answer("bob", 0, Answer::Declined);
    w.answer("carol", 0, Answer::Declined);
    assert_eq!(w.book.get(&id).unwrap().outcome(), Outcome::Solo);
    assert_eq!(w.answers_told()[1].3, Outcome::Solo);
}

#[test]
fn a_cancel_answers_for_the_waiting_and_tells_them() {
    let mut w = World::default();
    let id = w.create("alice", &["bob", "carol"]).invite.unwrap();
    w.answer("bob", 0, Answer::Accepted);
    assert!(w.close(0, State::Cancelled));
    assert!(w.book.get(&id).is_none());
    let withdrawn = w
        .told
        .iter()
        .filter(|n| matches!(n, Notice::Withdrawn { prompt, .. } if prompt.user == "carol"))
        .count();
    assert_eq!(withdrawn, 1);
    assert_eq!(
        w.answers_told().last().unwrap(),
        &(
            id.clone(),
            "carol".into(),
            Answer::Cancelled,
            Outcome::Cancelled
        )
    );
    // Closed: nothing more to close, nothing to answer.
    assert!(!w.close(0, State::Cancelled));
    assert!(!w.answer("carol", 0, Answer::Accepted));
    w.check_final().unwrap();
}

#[test]
fn a_cancel_once_all_answered_still_tells_the_platform() {
    let mut w = World::default();
    let id = w.create("alice", &["bob"]).invite.unwrap();
    w.answer("bob", 0, Answer::Accepted);
    assert!(w.close(0, State::Cancelled));
    assert!(w.told.iter().any(|n| matches!(
        n,
        Notice::State { invite, state: State::Cancelled, outcome: Outcome::Cancelled } if *invite == id
    )));
}

#[test]
fn a_started_session_closes_the_waiting_and_then_ends() {
    let mut w = World::default();
    let id = w.create("alice", &["bob", "carol"]).invite.unwrap();
    w.answer("bob", 0, Answer::Accepted);
    assert!(w.close(0, State::Started));
    assert_eq!(w.book.get(&id).unwrap().state(), State::Started);
    assert_eq!(
        w.answers_told().last().unwrap(),
        &(id.clone(), "carol".into(), Answer::Closed, Outcome::Ready)
    );
    assert_eq!(
        plan::close(&w.book, &id, State::Cancelled, w.now),
        Err(plan::CloseError::Started)
    );
    assert!(w.close(0, State::Ended));
    assert!(w.book.get(&id).is_none());
    w.check_final().unwrap();
}

#[test]
fn the_maximum_of_players_turns_late_acceptances_into_full() {
    let mut w = World::default();
    let request = Create {
        platform: "arcade".into(),
        notify: "arcade/bot".into(),
        host: "alice".into(),
        game: "Duel".into(),
        session: "s".into(),
        join_uri: None,
        max_players: Some(2),
        now: 0,
        expires_at: EXPIRY,
        candidates: ["bob", "carol"]
            .iter()
            .map(|j| Candidate {
                jid: (*j).into(),
                lang: None,
                refusal: None,
            })
            .collect(),
        room: 10,
    };
    let mut n = 0;
    let created = plan::create(&w.book, request, || {
        n += 1;
        format!("x{n}")
    })
    .unwrap();
    w.commit(created.plan);
    w.answer("bob", 0, Answer::Accepted);
    w.answer("carol", 0, Answer::Accepted);
    let told = w.answers_told();
    assert_eq!(told[1].2, Answer::Full);
    assert_eq!(told[1].3, Outcome::Ready);
}

#[test]
fn refusals_and_the_hosts_rate_are_reported_per_invitee() {
    let book = Book::default();
    let candidate = |jid: &str, refusal| Candidate {
        jid: jid.into(),
        lang: None,
        refusal,
    };
    let request = Create {
        platform: "arcade".into(),
        notify: "arcade/bot".into(),
        host: "alice".into(),
        game: "Chess".into(),
        session: "s".into(),
        join_uri: None,
        max_players: None,
        now: 0,
        expires_at: EXPIRY,
        candidates: vec![
            candidate("bob", Some(Refusal::Muted)),
            candidate("carol", None),
            candidate("dave", None),
            candidate("alice", None),
            candidate("carol", None),
        ],
        room: 1,
    };
    let mut n = 0;
    let created = plan::create(&book, request, || {
        n += 1;
        format!("x{n}")
    })
    .unwrap();
    let results: Vec<(&str, &str)> = created
        .rows
        .iter()
        .map(|(j, r)| (j.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("bob", "muted"),
            ("carol", "sent"),
            ("dave", "rate-limited"),
            ("alice", "not-a-contact"),
        ]
    );
    assert_eq!(created.invite.as_deref(), Some("x1"));
}

#[test]
fn crossed_creations_leave_one_invite_and_the_later_host_joins_it() {
    let mut w = World::default();
    let b_invite = w.create("bob", &["alice", "carol"]).invite.unwrap();
    w.tick(5);
    // Alice invites bob (whose invite to her waits) and dave.
    let created = w.create("alice", &["bob", "dave"]);
    assert_eq!(
        row(&created, "bob"),
        &Row::Joined {
            invite: b_invite.clone()
        }
    );
    let a_invite = created.invite.clone().unwrap();
    assert_eq!(
        row(&created, "dave"),
        &Row::Sent {
            invite: a_invite.clone()
        }
    );
    assert_eq!(created.joined, vec![b_invite.clone()]);
    // Alice counts as accepted in bob's invite, by merge; the platform is told.
    let b = w.book.get(&b_invite).unwrap();
    assert_eq!(b.invitee("alice").unwrap().answer, Some(Answer::Accepted));
    assert_eq!(b.invitee("alice").unwrap().how, Some(How::Merge));
    assert_eq!(b.outcome(), Outcome::Ready);
    assert!(w.told.iter().any(|n| matches!(
        n,
        Notice::Answer { invitee, how: Some(How::Merge), .. } if invitee == "alice"
    )));
    // Bob was not sent a second invitation.
    assert!(!w.invitations().iter().any(|(_, u)| u == "bob"));
    // Asked again, alice's request changes nothing.
    let again = w.create("alice", &["bob", "dave"]);
    assert_eq!(again.invite, None);
    assert_eq!(
        row(&again, "dave"),
        &Row::AlreadyInvited {
            invite: a_invite.clone()
        }
    );
    assert_eq!(row(&again, "bob"), &Row::Joined { invite: b_invite });
    w.check().unwrap();
    w.tick(SESSION);
    w.check_final().unwrap();
}

#[test]
fn after_a_decline_the_pair_may_be_linked_again() {
    let mut w = World::default();
    w.create("bob", &["alice"]);
    w.answer("alice", 0, Answer::Declined);
    let created = w.create("alice", &["bob"]);
    assert!(matches!(row(&created, "bob"), Row::Sent { .. }));
    // Another platform's invites are not linked to this one's.
    let other = w.create_on("puzzle", "bob", &["alice"]);
    assert!(matches!(row(&other, "alice"), Row::Sent { .. }));
    w.check().unwrap();
}

/// One step of a generated interleaving.
#[derive(Debug, Clone)]
enum Op {
    Create {
        platform: u8,
        host: u8,
        invitees: Vec<u8>,
    },
    Answer {
        user: u8,
        nth: u8,
        accept: bool,
    },
    Tick(u8),
    Close {
        nth: u8,
        state: u8,
    },
}

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const PLATFORMS: [&str; 2] = ["arcade", "puzzle"];

fn run(w: &mut World, op: &Op) -> Result<(), String> {
    match op {
        Op::Create {
            platform,
            host,
            invitees,
        } => {
            let host = USERS[*host as usize % USERS.len()];
            let invitees: Vec<&str> = invitees
                .iter()
                .map(|i| USERS[*i as usize % USERS.len()])
                .collect();
            let platform = PLATFORMS[*platform as usize % PLATFORMS.len()];
            // What the book said before: which invitees had invited the host.
            let inviting: Vec<(String, String)> = invitees
                .iter()
                .filter_map(|b| {
                    let link = w.book.link(platform, host, b)?;
                    (link.record.host == *b && link.invitee(host)?.answer.is_none())
                        .then(|| (b.to_string(), link.record.id.clone()))
                })
                .collect();
            let created = w.create_on(platform, host, &invitees);
            for (b, invite) in inviting {
                match row(&created, &b) {
                    Row::Joined { invite: joined } if *joined == invite => {
                        let survivor = w.book.get(&invite).ok_or("joined invite gone")?;
                        if survivor.invitee(host).and_then(|i| i.answer) != Some(Answer::Accepted) {
                            return Err(format!("{host} joined {invite} but is not accepted"));
                        }
                    }
                    other => return Err(format!("{host}→{b}: {other:?}, expected to join")),
                }
            }
            if created.surviving().is_none()
                && created
                    .rows
                    .iter()
                    .any(|(_, r)| matches!(r, Row::Sent { .. }))
            {
                return Err("sent without an invite".into());
            }
        }
        Op::Answer { user, nth, accept } => {
            let answer = if *accept {
                Answer::Accepted
            } else {
                Answer::Declined
            };
            w.answer(USERS[*user as usize % USERS.len()], *nth as usize, answer);
        }
        Op::Tick(secs) => w.tick(u32::from(*secs)),
        Op::Close { nth, state } => {
            let state = [State::Started, State::Ended, State::Cancelled][*state as usize % 3];
            w.close(*nth as usize, state);
        }
    }
    w.check()
}

fn finish(w: &mut World) -> Result<(), String> {
    // Ready and started sessions end by themselves; nothing else is held.
    w.tick(10 * EXPIRY + SESSION);
    w.check_final()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..2, 0u8..4, proptest::collection::vec(0u8..4, 1..4))
            .prop_map(|(platform, host, invitees)| Op::Create { platform, host, invitees }),
        4 => (0u8..4, 0u8..4, any::<bool>())
            .prop_map(|(user, nth, accept)| Op::Answer { user, nth, accept }),
        2 => (0u8..60).prop_map(Op::Tick),
        1 => (0u8..8, 0u8..3).prop_map(|(nth, state)| Op::Close { nth, state }),
    ]
}

/// Generated interleavings explored by the property below.
const CASES: u32 = 2_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Under any interleaving of creations (crossing or not, on two platforms),
    /// answers, expiries, starts, ends and cancels: at most one invite links two users
    /// on a platform, a host joining an invite counts as accepted there, every
    /// invitation is sent once and its final answer told exactly once, and the outcome
    /// told follows from the answers.
    #[test]
    fn crossed_creations_merge_under_any_interleaving(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = World::default();
        for op in &ops {
            run(&mut w, op).map_err(TestCaseError::fail)?;
        }
        finish(&mut w).map_err(TestCaseError::fail)?;
    }
}

/// Every order of a crossing scenario: A invites {B, D} while B invites {A, C}, C
/// accepts, D declines, the platform cancels the first invite, and time runs out.
#[test]
fn every_order_of_a_crossing_scenario() {
    let ops = [
        Op::Create {
            platform: 0,
            host: 0,
            invitees: vec![1, 3],
        },
        Op::Create {
            platform: 0,
            host: 1,
            invitees: vec![0, 2],
        },
        Op::Answer {
            user: 2,
            nth: 0,
            accept: true,
        },
        Op::Answer {
            user: 3,
            nth: 0,
            accept: false,
        },
        Op::Close { nth: 0, state: 2 },
        Op::Tick(EXPIRY as u8 / 2),
        Op::Answer {
            user: 0,
            nth: 0,
            accept: false,
        },
    ];
    let mut order: Vec<usize> = (0..ops.len()).collect();
    let mut explored = 0;
    // Heap's algorithm: every permutation once.
    let mut c = vec![0; order.len()];
    let mut check = |order: &[usize]| {
        let mut w = World::default();
        for &i in order {
            run(&mut w, &ops[i]).unwrap_or_else(|e| panic!("order {order:?}: {e}"));
        }
        finish(&mut w).unwrap_or_else(|e| panic!("order {order:?}: {e}"));
        explored += 1;
    };
    check(&order);
    let mut i = 0;
    while i < order.len() {
        if c[i] < i {
            if i % 2 == 0 {
                order.swap(0, i);
            } else {
                order.swap(c[i], i);
            }
            check(&order);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    assert_eq!(explored, 5040);
}
