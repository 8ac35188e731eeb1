use std::time::{Duration, Instant};

use minidom::Element;
use proptest::prelude::*;
use xmpp_parsers::jid::BareJid;

use super::{Heard, RouteCheck, Verdict, PROBES, ROUND_PAUSE};

const WAIT: Duration = Duration::from_secs(15);

fn component() -> BareJid {
    BareJid::new("game.example.org").unwrap()
}

/// The pings of a round, as the server would route them back.
fn pings(bytes: &[u8]) -> Vec<Element> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split_inclusive("</iq>")
        .map(|one| crate::wire::parse_stanza(one).unwrap())
        .collect()
}

fn stanza(xml: &str) -> Element {
    crate::wire::parse_stanza(xml).unwrap()
}

#[test]
fn a_round_is_sixteen_pings_of_the_component_to_itself() {
    let mut check = RouteCheck::new(7, WAIT);
    let round = pings(&check.round(&component(), Instant::now()));
    assert_eq!(round.len(), PROBES);
    for ping in &round {
        assert_eq!(ping.attr("type"), Some("get"));
        assert_eq!(ping.attr("from"), Some("game.example.org"));
        assert_eq!(ping.attr("to"), Some("game.example.org"));
        assert!(ping.has_child("ping", xmpp_parsers::ns::PING));
    }
    let ids: std::collections::HashSet<_> = round.iter().map(|p| p.attr("id")).collect();
    assert_eq!(ids.len(), PROBES, "every ping has an id of its own");
}

#[test]
fn every_ping_back_is_a_route_of_its_own_and_the_check_ends() {
    let t0 = Instant::now();
    let mut check = RouteCheck::new(7, WAIT);
    for ping in pings(&check.round(&component(), t0)) {
        assert_eq!(check.judge(t0), None, "judged before the round is back");
        assert_eq!(check.heard(&ping, &component()), Heard::Ours);
    }
    assert_eq!(check.judge(t0), Some(Verdict::Whole));
    assert!(!check.is_shared());
    assert_eq!(check.wake(), None);
    assert!(!check.round_due(t0 + WAIT * 10));
}

#[test]
fn a_ping_missing_before_one_that_came_back_means_a_shared_route_until_a_whole_round() {
    let t0 = Instant::now();
    let mut check = RouteCheck::new(7, WAIT);
    let round = pings(&check.round(&component(), t0));
    for i in [0, 1, 3] {
        assert_eq!(check.heard(&round[i], &component()), Heard::Ours);
    }
    assert_eq!(
        check.judge(t0),
        Some(Verdict::Shared {
            lost: PROBES - 3,
            sent: PROBES,
            first: true
        })
    );
    assert!(check.is_shared());
    // The next round a second later.
    assert_eq!(check.wake(), Some(t0 + ROUND_PAUSE));
    assert!(!check.round_due(t0));
    assert!(check.round_due(t0 + ROUND_PAUSE));
    // Its late pings count for nothing.
    let t1 = t0 + ROUND_PAUSE;
    let second = pings(&check.round(&component(), t1));
    assert_eq!(check.heard(&round[5], &component()), Heard::Stale);
    assert_eq!(check.heard(&second[1], &component()), Heard::Ours);
    assert!(matches!(
        check.judge(t1),
        Some(Verdict::Shared { first: false, .. })
    ));
    let t2 = t1 + ROUND_PAUSE;
    for ping in pings(&check.round(&component(), t2)) {
        check.heard(&ping, &component());
    }
    assert_eq!(check.judge(t2), Some(Verdict::WholeAgain));
    assert!(!check.is_shared());
    assert_eq!(check.wake(), None);
}

#[test]
fn the_last_pings_missing_are_waited_for() {
    let t0 = Instant::now();
    let mut check = RouteCheck::new(7, WAIT);
    let round = pings(&check.round(&component(), t0));
    for ping in &round[..10] {
        check.heard(ping, &component());
    }
    assert_eq!(check.judge(t0 + WAIT / 2), None);
    assert_eq!(check.wake(), Some(t0 + WAIT));
    assert!(matches!(
        check.judge(t0 + WAIT),
        Some(Verdict::Shared { lost: 6, .. })
    ));
}

#[test]
fn a_server_that_routes_nothing_back_ends_the_check() {
    let t0 = Instant::now();
    let mut check = RouteCheck::new(7, WAIT);
    check.round(&component(), t0);
    assert_eq!(check.judge(t0 + WAIT - Duration::from_millis(1)), None);
    assert_eq!(check.judge(t0 + WAIT), Some(Verdict::Unsupported));
    assert!(!check.is_shared());
    assert_eq!(check.wake(), None);
}

#[test]
fn the_servers_refusal_ends_the_check() {
    let t0 = Instant::now();
    let mut check = RouteCheck::new(7, WAIT);
    let round = pings(&check.round(&component(), t0));
    let id = round[0].attr("id").unwrap();
    let refusal = stanza(&format!(
        "<iq type='error' id='{id}' from='game.example.org' to='game.example.org'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert_eq!(check.heard(&refusal, &component()), Heard::Refused);
    assert_eq!(check.wake(), None);
    assert_eq!(check.judge(t0 + WAIT), None);
}

#[test]
fn another_connections_pings_are_told_apart_and_users_stanzas_are_left_to_the_core() {
    let t0 = Instant::now();
    let mut ours = RouteCheck::new(7, WAIT);
    let mut theirs = RouteCheck::new(8, WAIT);
    ours.round(&component(), t0);
    let foreign = pings(&theirs.round(&component(), t0));
    assert_eq!(ours.heard(&foreign[0], &component()), Heard::Foreign);
    // A user's ping whose id looks like one is the core's to answer; so is anything
    // that is not a ping of the component to itself.
    for xml in [
        "<iq type='get' id='route-0000000000000007-1-0' from='alice@example.org/phone' to='game.example.org'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='result' id='route-0000000000000008-1-0' from='alice@example.org/phone' to='game.example.org'/>",
        "<message id='route-0000000000000007-1-0' from='game.example.org' to='game.example.org'/>",
        "<iq type='get' id='other' from='game.example.org' to='game.example.org'/>",
    ] {
        assert_eq!(ours.heard(&stanza(xml), &component()), Heard::NotAProbe, "{xml}");
    }
}

/// Routes a round's pings: each to this link where `here` says so, in order.
fn routed(check: &mut RouteCheck, round: &[Element], here: &[bool]) {
    for (ping, here) in round.iter().zip(here) {
        if *here {
            assert_eq!(check.heard(ping, &component()), Heard::Ours);
        }
    }
}

proptest! {
    /// With one connection, every ping comes back in order, whenever the check looks: the
    /// route is never taken for shared, and the check ends whole.
    #[test]
    fn one_connection_is_never_taken_for_two(
        looks in proptest::collection::vec(0..PROBES, 0..40),
        delay_ms in 0..14_000u64,
    ) {
        let t0 = Instant::now();
        let mut check = RouteCheck::new(1, WAIT);
        let round = pings(&check.round(&component(), t0));
        let mut looks = looks;
        looks.sort_unstable();
        let mut looks = looks.into_iter().peekable();
        for (i, ping) in round.iter().enumerate() {
            while looks.peek().is_some_and(|&at| at <= i) {
                looks.next();
                prop_assert_eq!(check.judge(t0 + Duration::from_millis(delay_ms)), None);
            }
            prop_assert_eq!(check.heard(ping, &component()), Heard::Ours);
        }
        prop_assert_eq!(check.judge(t0 + Duration::from_millis(delay_ms)), Some(Verdict::Whole));
        prop_assert_eq!(check.wake(), None);
    }

    /// With two connections taking the pings at random, the route is found shared by the
    /// end of the wait at the latest; and once a round comes back whole, the link is made
    /// again, once.
    #[test]
    fn two_connections_are_found_and_a_whole_round_ends_the_sharing(
        here in proptest::collection::vec(any::<bool>(), PROBES),
    ) {
        prop_assume!(here.iter().any(|h| *h) && here.iter().any(|h| !*h));
        let t0 = Instant::now();
        let mut check = RouteCheck::new(1, WAIT);
        let round = pings(&check.round(&component(), t0));
        routed(&mut check, &round, &here);
        let verdict = check.judge(t0).or_else(|| check.judge(t0 + WAIT));
        let lost = here.iter().filter(|h| !**h).count();
        prop_assert_eq!(verdict, Some(Verdict::Shared { lost, sent: PROBES, first: true }));
        let t1 = t0 + WAIT + ROUND_PAUSE;
        prop_assert!(check.round_due(t1));
        let round = pings(&check.round(&component(), t1));
        routed(&mut check, &round, &[true; PROBES]);
        prop_assert_eq!(check.judge(t1), Some(Verdict::WholeAgain));
        prop_assert_eq!(check.judge(t1 + WAIT), None);
        prop_assert!(!check.round_due(t1 + WAIT));
    }

    /// Whatever id a stanza carries, the check does not panic, and a stanza not from the
    /// component is always left to the core.
    #[test]
    fn odd_ids_are_harmless(id in "route-[0-9a-f-]{0,40}", kind in "get|set|result|error") {
        let mut check = RouteCheck::new(1, WAIT);
        check.round(&component(), Instant::now());
        let mut el = stanza("<iq from='alice@example.org/x' to='game.example.org'/>");
        el.set_attr(minidom::rxml::Namespace::NONE, minidom::rxml::xml_ncname!("id").to_owned(), id.as_str());
        el.set_attr(minidom::rxml::Namespace::NONE, minidom::rxml::xml_ncname!("type").to_owned(), kind.as_str());
        prop_assert_eq!(check.heard(&el, &component()), Heard::NotAProbe);
        el.set_attr(minidom::rxml::Namespace::NONE, minidom::rxml::xml_ncname!("from").to_owned(), "game.example.org");
        let _ = check.heard(&el, &component());
    }
}
