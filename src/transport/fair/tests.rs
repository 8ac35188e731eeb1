//! The pacer driven by hand: turns by destination, the window and its markers, the cap,
//! and a property over any sequence of batches, writes and answers.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::wire::Wire;

fn pacer() -> Pacer {
    Pacer::new(Box::new(|n| {
        format!("<iq type='get' id='{MARK_PREFIX}{n}' from='game.example.test' to='example.test'><ping xmlns='urn:xmpp:ping'/></iq>").into_bytes()
    }))
}

/// A batch of stanzas `(to, size)`, each an IQ result padded to about `size` bytes.
fn batch(stanzas: &[(&str, usize)]) -> Stanzas {
    let mut wire = Wire::new(usize::MAX);
    for (i, (to, size)) in stanzas.iter().enumerate() {
        let _ = wire.stanza(|xml| {
            xml.open("iq")
                .attr("type", "result")
                .attr("id", &format!("{to}-{i}"))
                .attr("to", to)
                .head_end()
                .text(&"x".repeat(size.saturating_sub(60)))
                .close("iq");
        });
    }
    wire.take()
}

/// What a written chunk holds, as (to, id) of its stanzas, markers as ("mark", id).
fn stanzas_in(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.split("<iq ")
        .filter(|s| !s.is_empty())
        .map(|s| {
            let attr = |name: &str| {
                s.split(&format!(" {name}='"))
                    .nth(1)
                    .or_else(|| s.strip_prefix(&format!("{name}='")))
                    .and_then(|v| v.split('\'').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let id = attr("id");
            if id.starts_with(MARK_PREFIX) {
                ("mark".to_owned(), id)
            } else {
                (attr("to"), id)
            }
        })
        .collect()
}

#[test]
fn destinations_take_turns_and_a_newcomer_goes_next() {
    let mut p = pacer();
    let now = Instant::now();
    p.push(batch(&[("flood@x/a", 1_000); 50]));
    p.push(batch(&[("other@x/b", 1_000)]));
    // In turns: the other's answer second.
    let out = stanzas_in(&p.ready(now));
    let order: Vec<&str> = out.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(order[0], "flood@x/a");
    assert_eq!(order[1], "other@x/b", "{order:?}");
    assert!(order.len() < 51, "the window holds the rest back");
}

#[test]
fn the_window_holds_back_what_the_server_has_not_processed() {
    let mut p = pacer();
    let t0 = Instant::now();
    p.push(batch(&[("flood@x/a", 10_000); 40]));
    let first = p.ready(t0);
    let sent: Vec<_> = stanzas_in(&first);
    let answers = sent.iter().filter(|(to, _)| to != "mark").count();
    assert!(
        answers <= INITIAL_WINDOW / 10_000 + 1,
        "{answers} answers of 10 KB in flight"
    );
    assert!(
        sent.last().is_some_and(|(to, _)| to == "mark"),
        "a marker says when to send more"
    );
    assert!(
        p.ready(t0).is_empty(),
        "nothing more until the server answers"
    );
    // A newcomer's answer waits only for the window, not for the backlog.
    p.push(batch(&[("other@x/b", 500)]));
    let marks: Vec<String> = sent
        .iter()
        .filter(|(to, _)| to == "mark")
        .map(|(_, id)| id.clone())
        .collect();
    assert!(p.on_answer(&marks[0], t0 + Duration::from_micros(300)));
    let next = stanzas_in(&p.ready(t0 + Duration::from_micros(300)));
    assert!(
        next[..2].iter().any(|(to, _)| to == "other@x/b"),
        "the next round: {next:?}"
    );
    assert!(!p.on_answer("keepalive-1", t0), "not a marker");
}

#[test]
fn one_request_at_a_time_waits_for_no_marker_and_needs_few() {
    let mut p = pacer();
    let mut now = Instant::now();
    let mut marks = 0;
    for i in 0..300 {
        p.push(batch(&[("arcade@x/a", 2_700)]));
        let out = stanzas_in(&p.ready(now));
        assert_eq!(out[0].0, "arcade@x/a", "answer {i} left at once");
        now += Duration::from_micros(500);
        for (_, id) in out.iter().filter(|(to, _)| to == "mark") {
            marks += 1;
            p.on_answer(id, now);
        }
    }
    assert!(
        marks <= 300 * (2_700 + STANZA_COST) / IDLE_MARK + 1,
        "{marks} markers"
    );
}

#[test]
fn the_window_shrinks_when_the_server_queues_and_grows_when_it_keeps_up() {
    let mut p = pacer();
    let mut now = Instant::now();
    let mut windows = Vec::new();
    // A fast server: answers come back at once; with stanzas always waiting, the window
    // grows to its maximum.
    for _ in 0..200 {
        if p.stats().queued_bytes < 2 * MAX_WINDOW {
            p.push(batch(&[("flood@x/a", 8_000); 100]));
        }
        let out = stanzas_in(&p.ready(now));
        now += Duration::from_micros(100);
        for (_, id) in out.iter().filter(|(to, _)| to == "mark") {
            p.on_answer(id, now);
        }
        windows.push(p.window());
    }
    assert_eq!(p.window(), MAX_WINDOW, "{windows:?}");
    // A slow server: each marker takes 20 ms more than the fastest; the window falls.
    let _ = p.drain();
    for _ in 0..100 {
        p.push(batch(&[("flood@x/a", 8_000); 8]));
        let out = stanzas_in(&p.ready(now));
        now += Duration::from_millis(20);
        for (_, id) in out.iter().filter(|(to, _)| to == "mark") {
            p.on_answer(id, now);
        }
    }
    assert_eq!(p.window(), MIN_WINDOW);
}

#[test]
fn at_the_cap_the_window_is_set_aside() {
    let mut p = pacer();
    let now = Instant::now();
    let big = vec![("flood@x/a", 100_000); 170];
    p.push(batch(&big));
    assert!(!p.has_room());
    // One write takes the queue back under the cap: the link takes the core's stanzas
    // again at once, and the core never waits for a marker.
    let written = p.ready(now).len();
    assert!(written >= 170 * 100_000 - QUEUE_CAP, "{written}");
    assert!(p.has_room());
    assert!(p.stats().overflows > 0);
}

/// One step of a generated run.
#[derive(Debug, Clone)]
enum Step {
    /// A batch: (destination 0..4, size).
    Push(Vec<(u8, u16)>),
    /// The link writes what is ready.
    Write,
    /// The server answers the oldest `n` markers after `micros`.
    Answer(u8, u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop::collection::vec((0u8..4, 60u16..20_000), 1..20).prop_map(Step::Push),
        Just(Step::Write),
        (1u8..4, 0u16..5_000).prop_map(|(n, us)| Step::Answer(n, us)),
    ]
}

proptest! {
    /// Whatever comes and whenever the server answers: every stanza is written exactly
    /// once, each destination's in the order given, and what is in flight stays within
    /// the window (but for one stanza larger than it).
    #[test]
    fn every_stanza_leaves_once_in_order_within_the_window(
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut p = pacer();
        let mut now = Instant::now();
        let mut pushed: Vec<Vec<String>> = vec![Vec::new(); 4];
        let mut written: Vec<Vec<String>> = vec![Vec::new(); 4];
        let mut marks: std::collections::VecDeque<String> = Default::default();
        let mut n = 0u32;
        let mut largest = 0usize;
        let apply = |p: &mut Pacer, out: Vec<u8>, written: &mut Vec<Vec<String>>, marks: &mut std::collections::VecDeque<String>| {
            for (to, id) in stanzas_in(&out) {
                if to == "mark" {
                    marks.push_back(id);
                } else {
                    let lane: usize = to[1..2].parse().unwrap();
                    written[lane].push(id);
                }
            }
            let _ = p;
        };
        for step in steps {
            match step {
                Step::Push(stanzas) => {
                    let mut wire = Wire::new(usize::MAX);
                    for (lane, size) in stanzas {
                        n += 1;
                        let id = format!("s{n}");
                        largest = largest.max(size as usize + 80);
                        let to = format!("u{lane}@x/r");
                        let _ = wire.stanza(|xml| {
                            xml.open("iq").attr("type", "result").attr("id", &id).attr("to", &to)
                                .head_end().text(&"x".repeat(size as usize)).close("iq");
                        });
                        pushed[lane as usize].push(id);
                    }
                    p.push(wire.take());
                }
                Step::Write => {
                    let out = p.ready(now);
                    apply(&mut p, out, &mut written, &mut marks);
                    let stats = p.stats();
                    prop_assert!(
                        stats.in_flight <= IDLE_MARK + stats.window + largest + 2 * STANZA_COST + 200,
                        "{} in flight, window {}", stats.in_flight, stats.window
                    );
                }
                Step::Answer(k, us) => {
                    now += Duration::from_micros(u64::from(us));
                    for _ in 0..k {
                        if let Some(id) = marks.pop_front() {
                            p.on_answer(&id, now);
                        }
                    }
                }
            }
        }
        // The server answers everything from now on: all of it leaves.
        for _ in 0..10_000 {
            if p.is_empty() {
                break;
            }
            let out = p.ready(now);
            apply(&mut p, out, &mut written, &mut marks);
            now += Duration::from_micros(50);
            while let Some(id) = marks.pop_front() {
                p.on_answer(&id, now);
            }
        }
        prop_assert!(p.is_empty());
        prop_assert_eq!(written, pushed);
    }
}
