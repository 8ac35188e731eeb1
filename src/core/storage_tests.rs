//! The core with its database away (as with PostgreSQL): every write and read a job
//! for the storage worker, played here by the test, whose outcome comes back as an
//! input. Nothing leaves for a request before its writes are stored; a failed write
//! leaves nothing; reads wait and resume; at the cap, requests are refused.

use std::time::SystemTime;

use super::storage::{Stored, MAX_IN_FLIGHT};
use super::tests::{ask, consent, core_with, iq, link_up, sent, t, xml, PLATFORM};
use super::{Core, Input, Output};
use crate::store::{Job, Store, StoreError};

/// A linked core whose database the test holds, as the storage worker would.
fn away(store: Store) -> (Core, Store) {
    away_with(store, |_| {})
}

fn away_with(store: Store, change: impl FnOnce(&mut super::tests::Bed)) -> (Core, Store) {
    let mut core = core_with(store, change);
    link_up(&mut core);
    let worker = core.send_store_away().unwrap();
    (core, worker)
}

/// Splits outputs into the stanzas sent and the jobs asked for.
fn split(outputs: Vec<Output>) -> (Vec<Output>, Vec<(u64, Job)>) {
    let mut jobs = Vec::new();
    let mut rest = Vec::new();
    for output in outputs {
        match output {
            Output::Store { ticket, job } => jobs.push((ticket, job)),
            other => rest.push(other),
        }
    }
    (rest, jobs)
}

/// Runs `jobs` on `worker`, in order, handing each outcome back; what the core sent.
fn work(
    core: &mut Core,
    worker: &mut Store,
    jobs: Vec<(u64, Job)>,
    now: SystemTime,
) -> Vec<Output> {
    let mut sent_out = Vec::new();
    let mut queue = jobs;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (ticket, job) in queue {
            let result = job.run(worker);
            let (outputs, jobs) = split(core.handle(
                Input::Stored(Box::new(Stored {
                    ticket,
                    job,
                    result,
                })),
                now,
            ));
            sent_out.extend(outputs);
            next.extend(jobs);
        }
        queue = next;
    }
    sent_out
}

fn chat(user: &str, text: &str) -> String {
    format!("<message xmlns='jabber:component:accept' type='chat' from='{user}/pc' to='game.example.test'><body>{text}</body></message>")
}

#[test]
fn the_answer_leaves_only_once_the_writes_are_stored() {
    let (mut core, mut worker) = away(Store::open_in_memory().unwrap());
    let (outputs, jobs) = split(core.handle(
        Input::Stanza(xml(&chat("alice@example.test", "share all"))),
        t(10),
    ));
    assert!(
        sent(&outputs).is_empty(),
        "answered before the write was stored: {outputs:?}"
    );
    assert!(
        matches!(&jobs[..], [(_, Job::Commit(writes))] if !writes.is_empty()),
        "{jobs:?}"
    );
    assert_eq!(core.state().store.in_flight(), 1);
    let replies = sent(&work(&mut core, &mut worker, jobs, t(10)));
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0]
        .get_child("body", "jabber:component:accept")
        .unwrap()
        .text()
        .starts_with("Every platform may now see you."));
    assert_eq!(worker.consents().unwrap().len(), 1);
    assert_eq!(core.state().store.in_flight(), 0);
    assert!(core.state().health.stats.storage_jobs_sent >= 1);
}

#[test]
fn a_write_that_fails_away_leaves_nothing_and_says_so() {
    let (mut core, _worker) = away(Store::open_in_memory().unwrap());
    let (_, jobs) = split(core.handle(
        Input::Stanza(xml(&chat("alice@example.test", "share none"))),
        t(10),
    ));
    let (ticket, job) = jobs.into_iter().next().unwrap();
    let failed = Stored {
        ticket,
        job,
        result: Err(StoreError::Value("the database went away".to_owned())),
    };
    let replies = sent(&core.handle(Input::Stored(Box::new(failed)), t(11)));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].attr("type"), Some("chat"));
    // Nothing changed in memory: alice is still seen (the test bed is opt-out).
    assert!(core
        .state()
        .consent
        .allows("alice@example.test", "game@example.test"));
    assert_eq!(core.state().health.stats.storage_failures, 1);
}

#[test]
fn an_offline_users_last_seen_is_read_away_and_the_request_resumes() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .save_last_seen(&[("erin@example.test".to_owned(), 1_600_000_000)])
        .unwrap();
    consent(&mut store, "erin@example.test", None, true);
    let (mut core, mut worker) = away(store);
    let request = iq(
        "set",
        PLATFORM,
        &super::tests::command("status", &[("jids", &["erin@example.test"])]),
    );
    let (outputs, jobs) = split(core.handle(Input::Stanza(xml(&request)), t(10)));
    assert!(sent(&outputs).is_empty(), "{outputs:?}");
    assert!(
        jobs.iter().any(|(_, job)| matches!(job, Job::Read(crate::store::Read::LastSeen(users)) if users == &["erin@example.test"])),
        "{jobs:?}"
    );
    let replies = sent(&work(&mut core, &mut worker, jobs, t(10)));
    assert_eq!(replies.len(), 1, "{replies:?}");
    let text = String::from(&replies[0]);
    assert!(
        text.contains(&crate::xep::datetime::format(1_600_000_000)),
        "{text}"
    );
}

#[test]
fn a_closed_question_is_explained_from_the_database_away() {
    let (mut core, mut worker) = away_with(Store::open_in_memory().unwrap(), |c| {
        c.consent = crate::config::ConsentPolicy::OptIn;
    });
    // A question of the platform's, answered, then answered again.
    let request = iq(
        "set",
        PLATFORM,
        &super::tests::command("request-consent", &[("jid", &["alice@example.test"])]),
    );
    let mut core_ref = &mut core;
    let (outputs, jobs) = split(core_ref.handle(Input::Stanza(xml(&request)), t(10)));
    let mut all = outputs;
    all.extend(work(core_ref, &mut worker, jobs, t(10)));
    let asked = sent(&all);
    let question = asked
        .iter()
        .find(|m| m.attr("to") == Some("alice@example.test"))
        .unwrap_or_else(|| panic!("{asked:?}"));
    let thread = question
        .get_child("thread", "jabber:component:accept")
        .unwrap()
        .text();
    let id = thread.trim_start_matches("prompt-").to_owned();
    let mut said = Vec::new();
    let mut read_prompt = false;
    for at in [11, 12] {
        core_ref = &mut core;
        let (outputs, jobs) = split(core_ref.handle(
            Input::Stanza(xml(&chat("alice@example.test", &format!("yes {id}")))),
            t(at),
        ));
        read_prompt |= jobs
            .iter()
            .any(|(_, job)| matches!(job, Job::Read(crate::store::Read::Prompt(p)) if *p == id));
        let mut all = outputs;
        all.extend(work(core_ref, &mut worker, jobs, t(at)));
        said.extend(
            sent(&all)
                .iter()
                .filter(|m| m.attr("to") == Some("alice@example.test/pc"))
                .map(|m| {
                    m.get_child("body", "jabber:component:accept")
                        .unwrap()
                        .text()
                }),
        );
    }
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].starts_with("Thank you: game may now see you."),
        "{said:?}"
    );
    // The second answer finds the question answered, in the database: it was read.
    assert!(read_prompt);
    assert!(
        said[1].contains(&id) && !said[1].starts_with("There is no"),
        "{said:?}"
    );
}

#[test]
fn at_the_cap_of_jobs_out_requests_are_refused_and_counted() {
    let (mut core, _worker) = away(Store::open_in_memory().unwrap());
    for n in 0..MAX_IN_FLIGHT {
        let (outputs, jobs) = split(core.handle(
            Input::Stanza(xml(&chat(&format!("u{n}@example.test"), "share all"))),
            t(10),
        ));
        assert!(sent(&outputs).is_empty());
        assert_eq!(jobs.len(), 1);
    }
    let reply = ask(&mut core, &chat("late@example.test", "share all"), t(10));
    let text = reply
        .get_child("body", "jabber:component:accept")
        .unwrap()
        .text();
    assert!(text.contains("database is behind"), "{text}");
    assert_eq!(core.state().health.stats.storage_jobs_refused, 1);
}
