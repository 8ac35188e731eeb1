//! The directory and both tiers of active peers, with a fake clock.

use super::peers::{active_peers, Tier};
use super::presence::{Availability, PresenceUpdate, StatusTexts};
use super::*;
use std::str::FromStr;

const T0: u32 = 1_800_000_000;

fn directory() -> Directory {
    let mut dir = Directory::new(
        DirectoryConfig::default(),
        &[BareJid::from_str("example.test").unwrap()],
    );
    dir.link_up();
    dir
}

fn online(availability: Availability) -> PresenceUpdate {
    PresenceUpdate::Available {
        availability,
        priority: 0,
        status: StatusTexts::None,
    }
}

fn with_status(availability: Availability, text: &str) -> PresenceUpdate {
    PresenceUpdate::Available {
        availability,
        priority: 0,
        status: StatusTexts::Plain(text.into()),
    }
}

fn offline() -> PresenceUpdate {
    PresenceUpdate::Unavailable {
        status: StatusTexts::None,
    }
}

fn jid(name: &str) -> String {
    format!("{name}@example.test")
}

fn id(dir: &mut Directory, name: &str) -> UserId {
    dir.intern(&jid(name))
}

#[test]
fn available_presence_makes_a_user_online_with_status() {
    let mut dir = directory();
    assert_eq!(
        dir.apply(
            &jid("alice"),
            "pc",
            with_status(Availability::Chat, "ready"),
            T0
        ),
        Applied::LoggedIn
    );
    let alice = id(&mut dir, "alice");
    match dir.seen(alice, T0) {
        Seen::Online {
            availability,
            status,
            since,
        } => {
            assert_eq!(availability, Availability::Chat);
            assert_eq!(status.preferred(), Some("ready"));
            assert_eq!(since, T0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_presence_changes_nothing() {
    let mut dir = directory();
    dir.apply(
        &jid("alice"),
        "pc",
        with_status(Availability::Away, "lunch"),
        T0,
    );
    for i in 1..=5 {
        assert_eq!(
            dir.apply(
                &jid("alice"),
                "pc",
                with_status(Availability::Away, "lunch"),
                T0 + i
            ),
            Applied::Duplicate
        );
    }
    let alice = id(&mut dir, "alice");
    assert_eq!(
        dir.changed_at(alice),
        T0,
        "a duplicate moved the change time"
    );
}

#[test]
fn last_resource_going_offline_records_last_seen_once() {
    let mut dir = directory();
    // A server that replayed presence at connect: the resource set is known complete.
    replayed(&mut dir);
    dir.apply(&jid("alice"), "pc", online(Availability::Available), T0);
    dir.apply(&jid("alice"), "phone", online(Availability::Available), T0);
    assert_eq!(
        dir.apply(&jid("alice"), "pc", offline(), T0 + 10),
        Applied::Changed
    );
    assert_eq!(dir.pending_last_seen(), 0);
    assert_eq!(
        dir.apply(&jid("alice"), "phone", offline(), T0 + 20),
        Applied::LoggedOut
    );
    assert_eq!(
        dir.apply(&jid("alice"), "phone", offline(), T0 + 21),
        Applied::Duplicate
    );
    let alice = id(&mut dir, "alice");
    assert_eq!(
        dir.seen(alice, T0),
        Seen::Offline {
            last_seen: Some(T0 + 20)
        }
    );
    assert_eq!(dir.take_last_seen(), vec![(jid("alice"), T0 + 20)]);
    assert_eq!(dir.pending_last_seen(), 0);
}

/// The connect-time replay of a server that replays (Prosody) is over.
fn replayed(dir: &mut Directory) {
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    dir.replay_done("example.test", T0);
}

#[test]
fn without_a_replay_the_last_known_resource_leaving_makes_the_user_unknown() {
    // ejabberd: alice may have a silent desktop session the bridge never heard of.
    let mut dir = directory();
    dir.apply(&jid("alice"), "phone", online(Availability::Chat), T0);
    dir.apply(&jid("alice"), "phone", offline(), T0 + 20);
    let alice = id(&mut dir, "alice");
    assert_eq!(dir.seen(alice, T0), Seen::Unknown);
    // She was seen online until then, so that much is recorded.
    assert_eq!(dir.take_last_seen(), vec![(jid("alice"), T0 + 20)]);
    // An unknown resource leaving says nothing.
    dir.apply(&jid("bob"), "desk", offline(), T0 + 21);
    let bob = id(&mut dir, "bob");
    assert_eq!(dir.seen(bob, T0), Seen::Unknown);
}

#[test]
fn only_the_server_tells_whether_it_replays() {
    let mut dir = directory();
    assert!(!dir.replays_presence("example.test"), "nothing known yet");
    let advert = |ns: &str| {
        let el: minidom::Element =
            format!("<privilege xmlns='{ns}'><perm access='presence' type='roster'/></privilege>")
                .parse()
                .unwrap();
        crate::xep::privilege::Privilege::try_from(&el).unwrap()
    };
    // A server that does not name itself: Prosody's privilege namespace tells.
    dir.domain_mut("example.test").unwrap().privilege = Some(advert("urn:xmpp:privilege:2"));
    assert!(dir.replays_presence("example.test"));
    dir.domain_mut("example.test").unwrap().privilege = Some(advert("urn:xmpp:privilege:1"));
    assert!(!dir.replays_presence("example.test"));
    // A server that names itself is believed.
    dir.domain_mut("example.test").unwrap().software = Some("ejabberd 23.01".into());
    assert!(!dir.replays_presence("example.test"));
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    assert!(dir.replays_presence("example.test"));
}

#[test]
fn best_availability_comes_from_priority_then_availability() {
    let mut dir = directory();
    let prio = |availability, priority| PresenceUpdate::Available {
        availability,
        priority,
        status: StatusTexts::None,
    };
    dir.apply(&jid("alice"), "phone", prio(Availability::Chat, 0), T0);
    dir.apply(&jid("alice"), "desk", prio(Availability::Dnd, 10), T0);
    let alice = id(&mut dir, "alice");
    assert_eq!(dir.availability(alice, T0), Some(Availability::Dnd));
    dir.apply(&jid("alice"), "desk", offline(), T0 + 1);
    assert_eq!(dir.availability(alice, T0), Some(Availability::Chat));
}

#[test]
fn without_replay_users_are_unknown_until_heard_after_a_reconnect() {
    let mut dir = directory();
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0);
    dir.apply(&jid("bob"), "pc", online(Availability::Chat), T0);
    dir.link_down(T0 + 5);
    dir.link_up();
    let (alice, bob, carol) = (
        id(&mut dir, "alice"),
        id(&mut dir, "bob"),
        id(&mut dir, "carol"),
    );
    assert_eq!(dir.seen(alice, T0), Seen::Unknown);
    assert_eq!(
        dir.seen(carol, T0),
        Seen::Unknown,
        "never seen is not offline on ejabberd"
    );
    dir.apply(&jid("bob"), "pc", online(Availability::Away), T0 + 6);
    assert_eq!(dir.availability(bob, T0), Some(Availability::Away));
    assert_eq!(dir.seen(alice, T0), Seen::Unknown);
}

#[test]
fn after_a_replay_users_not_mentioned_are_offline_since_the_link_went_down() {
    let mut dir = directory();
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0);
    dir.apply(&jid("bob"), "pc", online(Availability::Chat), T0);
    dir.link_down(T0 + 5);
    dir.link_up();
    // The replay mentions bob only.
    dir.apply(&jid("bob"), "pc", online(Availability::Chat), T0 + 9);
    let (alice, bob, carol) = (
        id(&mut dir, "alice"),
        id(&mut dir, "bob"),
        id(&mut dir, "carol"),
    );
    assert_eq!(
        dir.seen(alice, T0),
        Seen::Unknown,
        "before the replay is over"
    );
    dir.replay_done("example.test", T0 + 10);
    assert_eq!(
        dir.seen(alice, T0),
        Seen::Offline {
            last_seen: Some(T0 + 5)
        }
    );
    assert_eq!(dir.seen(carol, T0), Seen::Offline { last_seen: None });
    assert_eq!(dir.availability(bob, T0), Some(Availability::Chat));
    assert!(dir.take_last_seen().contains(&(jid("alice"), T0 + 5)));
}

/// alice, with mutual contacts bob, carol, dave, erin in various states.
fn circle(dir: &mut Directory) -> (UserId, Vec<UserId>) {
    dir.apply(&jid("alice"), "pc", online(Availability::Available), T0);
    dir.apply(
        &jid("bob"),
        "pc",
        with_status(Availability::Chat, "up for a game"),
        T0 + 1,
    );
    dir.apply(&jid("carol"), "pc", online(Availability::Available), T0 + 3);
    dir.apply(&jid("dave"), "pc", online(Availability::Away), T0 + 2);
    dir.apply(&jid("erin"), "pc", online(Availability::Dnd), T0 + 2);
    let alice = id(dir, "alice");
    let mutual = ["bob", "carol", "dave", "erin", "frank"]
        .map(|n| id(dir, n))
        .to_vec();
    (alice, mutual)
}

#[test]
fn presence_tier_lists_available_peers_most_recent_change_first() {
    let mut dir = directory();
    let (alice, mutual) = circle(&mut dir);
    let peers = active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 10);
    let names: Vec<&str> = peers.iter().map(|p| dir.name(p.id)).collect();
    assert_eq!(names, vec!["carol@example.test", "bob@example.test"]);
    assert_eq!(peers[1].status.as_deref(), Some("up for a game"));
    assert_eq!(peers[1].availability, Availability::Chat);
    assert_eq!(peers[0].last_activity, T0 + 3);
}

#[test]
fn away_peer_is_not_active_and_comes_back_when_available() {
    let mut dir = directory();
    let (alice, mutual) = circle(&mut dir);
    dir.apply(&jid("bob"), "pc", online(Availability::Away), T0 + 20);
    let peers = active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 21);
    assert!(peers.iter().all(|p| dir.name(p.id) != "bob@example.test"));
    dir.apply(&jid("dave"), "pc", online(Availability::Chat), T0 + 22);
    let peers = active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 23);
    assert_eq!(dir.name(peers[0].id), "dave@example.test");
}

#[test]
fn a_user_who_is_not_available_has_no_active_peers() {
    for state in [Availability::Away, Availability::Xa, Availability::Dnd] {
        let mut dir = directory();
        let (alice, mutual) = circle(&mut dir);
        dir.apply(&jid("alice"), "pc", online(state), T0 + 5);
        assert!(
            active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 6).is_empty(),
            "{state:?}"
        );
    }
    let mut dir = directory();
    let (alice, mutual) = circle(&mut dir);
    dir.apply(&jid("alice"), "pc", offline(), T0 + 5);
    assert!(active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 6).is_empty());
}

#[test]
fn unknown_peers_are_never_listed() {
    let mut dir = directory();
    let (_, mutual) = circle(&mut dir);
    dir.link_down(T0 + 5);
    dir.link_up();
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0 + 6);
    let alice = id(&mut dir, "alice");
    assert!(active_peers(&dir, alice, &mutual, Tier::Presence, T0 + 7).is_empty());
}

#[test]
fn conversation_tier_lists_recent_partners_within_the_window_only() {
    let mut dir = directory();
    // Prosody: it tells every departure, so presence heard minutes ago still holds.
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    let (alice, mutual) = circle(&mut dir);
    let window = dir.config.conversation_window.as_secs() as u32;
    let (bob, carol, dave) = (
        id(&mut dir, "bob"),
        id(&mut dir, "carol"),
        id(&mut dir, "dave"),
    );
    dir.activity.record(alice, bob, T0 + 100);
    dir.activity.record(carol, alice, T0 + 200);
    dir.activity.record(alice, dave, T0 + 300); // dave is away
    let now = T0 + 300;
    let peers = active_peers(&dir, alice, &mutual, Tier::Conversation, now);
    let names: Vec<&str> = peers.iter().map(|p| dir.name(p.id)).collect();
    assert_eq!(names, vec!["carol@example.test", "bob@example.test"]);
    assert_eq!(peers[0].last_activity, T0 + 200);
    let later = T0 + 100 + window + 1;
    let peers = active_peers(&dir, alice, &mutual, Tier::Conversation, later);
    let names: Vec<&str> = peers.iter().map(|p| dir.name(p.id)).collect();
    assert_eq!(
        names,
        vec!["carol@example.test"],
        "bob's exchange is outside the window"
    );
}

#[test]
fn conversation_with_a_non_contact_does_not_make_a_peer() {
    let mut dir = directory();
    let (alice, mutual) = circle(&mut dir);
    dir.apply(&jid("mallory"), "pc", online(Availability::Chat), T0);
    let mallory = id(&mut dir, "mallory");
    dir.activity.record(mallory, alice, T0 + 5);
    let peers = active_peers(&dir, alice, &mutual, Tier::Conversation, T0 + 6);
    assert!(peers.is_empty());
}

#[test]
fn last_seen_times_that_could_not_be_written_are_kept_for_the_next_flush() {
    let mut dir = directory();
    replayed(&mut dir);
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0);
    dir.apply(&jid("alice"), "pc", offline(), T0 + 5);
    let batch = dir.take_last_seen();
    dir.requeue_last_seen(batch.clone());
    assert_eq!(dir.take_last_seen(), batch);
}

#[test]
fn a_user_keeps_at_most_the_cap_of_resources_and_the_stalest_goes_first() {
    let mut dir = directory();
    let cap = dir.config.max_resources_per_user;
    for r in 0..cap + 10 {
        dir.apply(
            &jid("alice"),
            &format!("r{r}"),
            online(Availability::Chat),
            T0 + r as u32,
        );
    }
    assert_eq!(dir.online_resources(), cap);
    assert_eq!(dir.resources_evicted, 10);
    // The newest are kept: r10 onwards; r0 (the stalest) is gone, so its leaving says nothing.
    dir.apply(&jid("alice"), "r0", offline(), T0 + 100);
    assert_eq!(dir.online_resources(), cap);
    dir.apply(&jid("alice"), &format!("r{}", cap + 9), offline(), T0 + 101);
    assert_eq!(dir.online_resources(), cap - 1);
}

#[test]
fn where_departures_are_not_told_a_silent_resource_is_confirmed_before_it_is_reported() {
    let mut dir = directory(); // no software told: like ejabberd, departures may be silent
    let check = dir.config.presence_check.as_secs() as u32;
    dir.apply(&jid("alice"), "phone", online(Availability::Chat), T0);
    dir.apply(&jid("alice"), "desk", online(Availability::Away), T0);
    let alice = id(&mut dir, "alice");
    assert!(matches!(
        dir.seen(alice, T0 + check - 1),
        Seen::Online { .. }
    ));
    assert!(dir.unconfirmed(alice, T0 + check - 1).is_empty());
    // Silent for the whole interval: not reported until confirmed.
    assert_eq!(dir.seen(alice, T0 + check), Seen::Unknown);
    assert!(dir.might_be_active(alice));
    let due = dir.unconfirmed(alice, T0 + check);
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|(_, due)| *due));
    // Pinged: not due again within the interval, whatever becomes of the ping.
    dir.checking(alice, "phone", T0 + check);
    dir.checking(alice, "desk", T0 + check);
    assert!(dir
        .unconfirmed(alice, T0 + check + 1)
        .iter()
        .all(|(_, due)| !*due));
    // The phone answers; the server says the desk is gone.
    dir.confirmed(alice, "phone", T0 + check);
    assert_eq!(dir.gone(alice, "desk", T0 + check + 1), Applied::Changed);
    match dir.seen(alice, T0 + check + 1) {
        Seen::Online { availability, .. } => assert_eq!(availability, Availability::Chat),
        other => panic!("{other:?}"),
    }
    // A presence confirms too, even one that changes nothing.
    dir.apply(
        &jid("alice"),
        "phone",
        online(Availability::Chat),
        T0 + 3 * check,
    );
    assert!(matches!(
        dir.seen(alice, T0 + 3 * check),
        Seen::Online { .. }
    ));
    // The last resource gone: no longer online.
    dir.gone(alice, "phone", T0 + 3 * check + 1);
    assert!(!matches!(
        dir.seen(alice, T0 + 3 * check + 1),
        Seen::Online { .. }
    ));
    assert!(!dir.might_be_active(alice));
}

#[test]
fn prosody_tells_every_departure_so_nothing_is_confirmed_there() {
    let mut dir = directory();
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    dir.apply(&jid("alice"), "phone", online(Availability::Chat), T0);
    let alice = id(&mut dir, "alice");
    assert!(dir.unconfirmed(alice, T0 + 86_400).is_empty());
    assert!(matches!(dir.seen(alice, T0 + 86_400), Seen::Online { .. }));
}

#[test]
fn contacts_on_other_servers_are_kept_and_listed_only_where_the_policy_allows() {
    let mut dir = directory();
    dir.domain_mut("example.test").unwrap().software = Some("Prosody 0.12.3".into());
    let rob = "rob@other.example";
    dir.apply(rob, "pc", online(Availability::Chat), T0);
    assert!(dir.id(rob).is_none(), "kept though the policy is off");

    dir.config.remote_peers = true;
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0);
    dir.apply(rob, "pc", online(Availability::Chat), T0);
    let (alice, rob_id) = (id(&mut dir, "alice"), dir.id(rob).unwrap());
    let peers = active_peers(&dir, alice, &[rob_id], Tier::Presence, T0 + 1);
    assert_eq!(peers.len(), 1);
    // Their server does not tell the bridge every departure: confirmed before reported.
    let check = dir.config.presence_check.as_secs() as u32;
    assert_eq!(dir.unconfirmed(rob_id, T0 + check).len(), 1);
    assert!(active_peers(&dir, alice, &[rob_id], Tier::Presence, T0 + check).is_empty());
    // Nothing about them is written down.
    dir.apply(rob, "pc", offline(), T0 + 2);
    assert!(dir.take_last_seen().is_empty());
    // The policy off again: never listed, whatever is known.
    dir.apply(rob, "pc", online(Availability::Chat), T0 + 3);
    dir.config.remote_peers = false;
    assert!(active_peers(&dir, alice, &[rob_id], Tier::Presence, T0 + 4).is_empty());
}

#[test]
fn strangers_from_other_servers_are_capped() {
    let mut dir = directory();
    dir.config.remote_peers = true;
    // A contact some roster named is always kept.
    let friend = dir.intern("friend@other.example");
    for i in 0..MAX_REMOTE_STRANGERS {
        dir.apply(
            &format!("s{i}@other.example"),
            "r",
            online(Availability::Chat),
            T0,
        );
    }
    dir.apply(
        "one-more@other.example",
        "r",
        online(Availability::Chat),
        T0,
    );
    assert!(dir.id("one-more@other.example").is_none());
    assert_eq!(dir.remote_dropped, 1);
    dir.apply("friend@other.example", "r", online(Availability::Chat), T0);
    assert!(matches!(dir.seen(friend, T0), Seen::Online { .. }));
}

#[test]
fn the_sessions_the_server_lists_make_offline_knowable_without_a_replay() {
    let mut dir = directory(); // does not replay presence, like ejabberd
    let check = dir.config.presence_check.as_secs() as u32;
    dir.apply(&jid("alice"), "pc", online(Availability::Chat), T0);
    assert_eq!(dir.seen_by_name(&jid("carol"), T0), Seen::Unknown);
    let sessions: Vec<String> = [
        "alice@example.test/pc",
        "alice@example.test/phone",
        "bob@example.test/desk",
        "mallory@elsewhere.example/x",
        "not a jid",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(
        dir.apply_sessions("example.test", &sessions, T0 + 1),
        (3, 2)
    );
    let (alice, bob) = (id(&mut dir, "alice"), id(&mut dir, "bob"));
    // Listed, presence not heard: online, availability unknown.
    assert_eq!(dir.seen(bob, T0 + 2), Seen::Unknown);
    // Neither listed nor heard: offline.
    assert!(matches!(
        dir.seen_by_name(&jid("carol"), T0 + 2),
        Seen::Offline { .. }
    ));
    assert!(matches!(dir.seen(alice, T0 + 2), Seen::Online { .. }));
    // alice's computer leaves; her phone is still on, silent.
    assert_eq!(
        dir.apply(&jid("alice"), "pc", offline(), T0 + 3),
        Applied::Changed
    );
    assert_eq!(dir.seen(alice, T0 + 3), Seen::Unknown);
    // The phone speaks up, then leaves: she is offline, and that is known.
    dir.apply(&jid("alice"), "phone", online(Availability::Away), T0 + 4);
    assert!(matches!(dir.seen(alice, T0 + 4), Seen::Online { .. }));
    assert_eq!(
        dir.apply(&jid("alice"), "phone", offline(), T0 + 5),
        Applied::LoggedOut
    );
    assert!(matches!(dir.seen(alice, T0 + 5), Seen::Offline { .. }));
    // bob's silent session is checked like any other; gone, he is offline.
    let due = dir.unconfirmed(bob, T0 + 1 + check);
    assert_eq!(due, vec![("desk".into(), true)]);
    dir.checking(bob, "desk", T0 + 1 + check);
    dir.gone(bob, "desk", T0 + 2 + check);
    assert!(matches!(
        dir.seen(bob, T0 + 2 + check),
        Seen::Offline { .. }
    ));
    assert_eq!(dir.silent_sessions(), 0);
    // A new link forgets what the last one listed.
    dir.apply_sessions(
        "example.test",
        &["bob@example.test/desk".to_owned()],
        T0 + 100,
    );
    dir.link_up();
    assert_eq!(dir.silent_sessions(), 0);
    assert_eq!(dir.seen(bob, T0 + 101), Seen::Unknown);
}
