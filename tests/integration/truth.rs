//! The directory tells the truth on both servers: what a user's presence says is what a
//! platform reads, whatever case a roster keeps a contact in or language a status is
//! written in, with the least grants that give it, and the bridge's log says what really
//! happened.

use std::time::Duration;

use crate::directory::{
    availability_of, form, friends, login, rows, run, status_until, world, World,
};
use crate::support::{befriend, on_both_servers, Bridge, BridgeConfig, ServerKind, ServerOptions};

const T: Duration = Duration::from_secs(10);

/// Polls `peers` for `user` until it lists the peers `expected`, in any order.
async fn peers_become(platform: &mut crate::support::Client, user: &str, expected: &[&str]) {
    let deadline = std::time::Instant::now() + T;
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    loop {
        let rows = rows(&form(&run(platform, "peers", "jid", &[user]).await));
        let mut jids: Vec<&str> = rows.iter().map(|r| r["jid"][0].as_str()).collect();
        jids.sort_unstable();
        if jids == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "peers of {user} never became {expected:?}: {jids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_servers!(
    async fn a_status_in_the_presence_language_is_not_shown_as_foreign(kind) {
        let World { server, bridge: _bridge, mut platform } =
            world(kind, &ServerOptions::default(), &["alice", "bob"], "").await;
        let (mut alice, _bob) = friends(&server, "alice", "bob").await;
        alice
            .send_xml("<presence xml:lang='en'><status xml:lang='en'>in a meeting</status><status xml:lang='de'>in einer Besprechung</status></presence>")
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + T;
        loop {
            let row = availability_of(&mut platform, "alice@example.test").await;
            if row["status"].len() == 2 {
                assert_eq!(row["status"], vec!["in a meeting", "[de] in einer Besprechung"]);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{row:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
);

/// Both servers normalise a contact a client adds (`Bob@Example.test` becomes
/// `bob@example.test`), but a roster imported or migrated into the server keeps the case
/// it was written in, and the server gives it out so.
#[tokio::test]
async fn a_contact_kept_in_another_case_is_still_a_peer() {
    let World {
        server,
        bridge: _bridge,
        mut platform,
    } = world(
        ServerKind::Prosody,
        &ServerOptions::default(),
        &["alice", "bob"],
        "",
    )
    .await;
    // Prosody's own storage format; read when each user logs in.
    let rosters = server
        .dir()
        .join("data")
        .join("example%2etest")
        .join("roster");
    std::fs::create_dir_all(&rosters).unwrap();
    let roster = |contact: &str| {
        format!(
            "return {{\n\t[false] = {{ [\"version\"] = 1; }};\n\t[\"{contact}\"] = {{ [\"subscription\"] = \"both\"; [\"groups\"] = {{}}; }};\n}};\n"
        )
    };
    std::fs::write(rosters.join("alice.dat"), roster("Bob@Example.test")).unwrap();
    std::fs::write(rosters.join("bob.dat"), roster("alice@example.test")).unwrap();
    let mut alice = login(&server, "alice").await;
    let mut bob = login(&server, "bob").await;
    let kept = alice.roster(T).await.unwrap();
    assert_eq!(
        kept,
        vec![("Bob@Example.test".to_owned(), "both".to_owned())]
    );
    alice.send_presence(None, None).await.unwrap();
    bob.send_presence(Some("chat"), None).await.unwrap();
    peers_become(&mut platform, "alice@example.test", &["bob@example.test"]).await;
}

on_both_servers!(
    /// `managed_entity` gives the presence of the server's own users: all the directory
    /// needs for local peers.
    async fn the_managed_entity_presence_grant_is_enough_for_local_users(kind) {
        let options = ServerOptions {
            presence_grant: Some("managed_entity"),
            ..ServerOptions::default()
        };
        let World { server, mut bridge, mut platform } =
            world(kind, &options, &["alice", "bob"], "").await;
        let (mut alice, mut bob) = friends(&server, "alice", "bob").await;
        alice.send_presence(None, Some("here")).await.unwrap();
        bob.send_presence(Some("chat"), Some("up for a game")).await.unwrap();
        peers_become(&mut platform, "alice@example.test", &["bob@example.test"]).await;
        let row = status_until(&mut platform, "bob@example.test", "chat").await;
        assert_eq!(row["status"], vec!["up for a game"]);
        bridge.wait_for_log("remote contacts' presence needs presence=roster", T).await.expect("the grants are reported");
        let log = bridge.log();
        assert!(!log.contains("has not granted"), "{}", bridge.log_tail(40));
        assert!(
            log.contains("remote contacts' presence needs presence=roster"),
            "the bridge says what the larger grant would add: {}",
            bridge.log_tail(40)
        );
    }
);

/// Without mod_version, Prosody does not tell its software; the bridge still knows it
/// replays presence at connect (from its disco identity, else its privilege namespace),
/// so users not online are offline, not unknown, and the log says how it knows.
#[tokio::test]
async fn prosody_without_mod_version_still_knows_who_is_offline() {
    let options = ServerOptions {
        without_version: true,
        ..ServerOptions::default()
    };
    let World {
        mut server,
        mut bridge,
        platform: _,
    } = world(ServerKind::Prosody, &options, &["alice"], "").await;
    server.restart().await.expect("server restarts");
    bridge
        .wait_connected(Duration::from_secs(30))
        .await
        .expect("bridge links up again");
    let mut platform = login(&server, "arcade").await;
    let row = status_until(&mut platform, "alice@example.test", "offline").await;
    eprintln!("alice: {row:?}");
    let log = bridge.log();
    assert!(
        log.contains("presence replay complete"),
        "{}",
        bridge.log_tail(40)
    );
    let line = log
        .lines()
        .find(|l| l.contains("did not tell its software"))
        .unwrap_or_default();
    assert!(
        line.contains("Prosody") && line.contains("disco identity"),
        "the log says which server it found, and how: {}",
        bridge.log_tail(40)
    );
}

on_both_servers!(
    async fn the_log_says_what_happened(kind) {
        let World { mut server, mut bridge, platform: _platform } =
            world(kind, &ServerOptions::default(), &["alice"], "").await;
        bridge.wait_for_log("privileges granted", T).await.expect("grants logged");
        // The tier line comes a round trip later, once the server said what it runs.
        bridge.wait_for_log("active peers use", T).await.expect("the tier logged");
        let log = bridge.log();
        let grants = log.lines().find(|l| l.contains("privileges granted")).unwrap_or_default();
        for key in ["roster=", "presence=", "message="] {
            assert!(grants.contains(key), "{key} missing in {grants:?}");
        }
        match kind {
            ServerKind::Prosody => assert!(log.contains("mod_game_bridge_activity"), "{}", bridge.log_tail(40)),
            ServerKind::Ejabberd => assert!(
                !log.contains("mod_game_bridge_activity"),
                "a Prosody module suggested on ejabberd: {}",
                bridge.log_tail(40)
            ),
        }
        // A normal restart of the server reads as one.
        server.restart().await.expect("server restarts");
        bridge.wait_connected(Duration::from_secs(30)).await.expect("bridge links up again");
        let log = bridge.log();
        let lost = log
            .lines()
            .find(|l| l.contains("link down") || l.contains("connection lost") || l.contains("lost"))
            .unwrap_or_default()
            .to_owned();
        eprintln!("{kind}: {lost}");
        assert!(!log.contains("invalid eof"), "{}", bridge.log_tail(40));
        assert!(!log.contains("connection lost"), "{}", bridge.log_tail(40));
    }
);

on_both_servers!(
    async fn a_missing_grant_is_one_warning_line(kind) {
        let options = ServerOptions {
            without_privileges: true,
            ..ServerOptions::default()
        };
        let World { server: _server, mut bridge, platform: _platform } =
            world(kind, &options, &["alice"], "").await;
        bridge.wait_for_log("has not granted", T).await.expect("warned");
        let log = bridge.log();
        let start = log.find("has not granted").unwrap();
        let line_end = log[start..].find('\n').map_or(log.len(), |i| start + i);
        let rest = &log[line_end..];
        // The configuration to add is on the warning's own line, not on lines of its own.
        let family_lines = match kind {
            ServerKind::Prosody => "privileged_entities",
            ServerKind::Ejabberd => "mod_privilege",
        };
        assert!(log[start..line_end].contains(family_lines), "{}", bridge.log_tail(20));
        let next = rest.trim_start_matches('\n').lines().next().unwrap_or("");
        assert!(
            next.is_empty() || next.contains(" INFO ") || next.contains(" WARN ") || next.contains(" DEBUG ") || next.contains("ERROR"),
            "the warning continues on the next line: {next:?}"
        );
    }
);

/// ejabberd answers `not-authorized` to a wrong secret and to a component name it does not
/// serve alike; the bridge says it can be either.
#[tokio::test]
async fn a_refused_handshake_on_ejabberd_names_both_causes() {
    let server = crate::support::Server::start(ServerKind::Ejabberd)
        .await
        .expect("server starts");
    let config = BridgeConfig {
        component: Some("nope.example.test".to_owned()),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    let status = bridge
        .wait_exit(T)
        .await
        .expect("the bridge gives up on a configuration error");
    assert_eq!(status.code(), Some(3), "{}", bridge.log_tail(20));
    let log = bridge.log();
    assert!(
        log.contains("secret is wrong")
            && log.contains("nope.example.test")
            && log.contains("no component by this name"),
        "{}",
        bridge.log_tail(20)
    );
}

/// The ways a user's last session ends.
#[derive(Clone, Copy, Debug)]
enum Departure {
    /// Unavailable presence, then the stream's end.
    LogOut,
    /// The stream's end without unavailable presence.
    ClosedStream,
    /// The TCP connection dropped without a word.
    DroppedTcp,
}

const CHECK_SECS: u64 = 3;

/// For each way of leaving: how long until `status` stops reporting the user online, and
/// that `peers` of their contact never lists them afterwards, whether or not a contact
/// was online to see them go.
async fn departures(kind: ServerKind, contact_online: bool) {
    let users: Vec<String> = (0..3)
        .flat_map(|i| [format!("leaver{i}"), format!("friend{i}")])
        .collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let World {
        server,
        bridge,
        mut platform,
    } = world(
        kind,
        &ServerOptions::default(),
        &names,
        &format!("\n[directory]\npresence_check_secs = {CHECK_SECS}\n"),
    )
    .await;
    let online = ["chat", "available", "away", "xa", "dnd"];
    for (i, shape) in [
        Departure::LogOut,
        Departure::ClosedStream,
        Departure::DroppedTcp,
    ]
    .into_iter()
    .enumerate()
    {
        let (leaver_name, friend_name) = (format!("leaver{i}"), format!("friend{i}"));
        let leaver_jid = format!("{leaver_name}@example.test");
        let friend_jid = format!("{friend_name}@example.test");
        let (leaver, friend) = friends(&server, &leaver_name, &friend_name).await;
        let leaver = leaver.in_background();
        let friend = friend.in_background();
        status_until(&mut platform, &leaver_jid, "available").await;
        peers_become(&mut platform, &friend_jid, &[leaver_jid.as_str()]).await;
        let friend = if contact_online {
            Some(friend)
        } else {
            friend.back().await.unwrap().log_out().await;
            let deadline = std::time::Instant::now() + T;
            while online.contains(
                &availability_of(&mut platform, &friend_jid).await["availability"][0].as_str(),
            ) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{friend_jid} never left"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        };
        let leaver = leaver.back().await.unwrap();
        let left = std::time::Instant::now();
        match shape {
            Departure::LogOut => leaver.log_out().await,
            Departure::ClosedStream => leaver.close().await,
            Departure::DroppedTcp => leaver.drop_connection(),
        }
        let row = loop {
            let row = availability_of(&mut platform, &leaver_jid).await;
            if !online.contains(&row["availability"][0].as_str()) {
                break row;
            }
            assert!(
                left.elapsed() < Duration::from_secs(CHECK_SECS + 3),
                "{kind} {shape:?}: {leaver_jid} still reported online after {:?}: {row:?}\n{}",
                left.elapsed(),
                bridge.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let after = left.elapsed();
        // Prosody replays presence at connect, so the bridge knows every session of a user
        // it heard since: offline. ejabberd does not, so another device could be on.
        let expected = match kind {
            ServerKind::Prosody => "offline",
            ServerKind::Ejabberd => "unknown",
        };
        assert_eq!(row["availability"], vec![expected], "{kind} {shape:?}");
        eprintln!(
            "{kind}, {shape:?}, contact online: {contact_online}: not reported online after {} ms, then {}",
            after.as_millis(),
            row["availability"][0]
        );
        // The contact, there all along or back later, never gets the departed user as a peer.
        let friend = match friend {
            Some(friend) => friend,
            None => {
                let mut friend = login(&server, &friend_name).await;
                friend.send_presence(None, None).await.unwrap();
                status_until(&mut platform, &friend_jid, "available").await;
                friend.in_background()
            }
        };
        let rows = rows(&form(
            &run(&mut platform, "peers", "jid", &[&friend_jid]).await,
        ));
        assert!(
            rows.iter().all(|r| r["jid"][0] != leaver_jid),
            "{kind} {shape:?}: {leaver_jid} listed as a peer after leaving: {rows:?}"
        );
        friend.back().await.unwrap().close().await;
    }
}

on_both_servers!(
    async fn every_departure_with_a_contact_online_ends_the_users_presence(kind) {
        departures(kind, true).await;
    }
);

on_both_servers!(
    async fn every_departure_with_nobody_watching_ends_the_users_presence(kind) {
        departures(kind, false).await;
    }
);

on_both_servers!(
    /// An operator starts from Debian's default configuration and adds
    /// `component-config/`'s file where its first lines say, on a port other than the
    /// default: the server listens there (the support code waits for the server to say
    /// so), grants what the bridge needs, and the bridge answers.
    async fn the_shipped_server_configuration_works_placed_as_it_says(kind) {
        let options = ServerOptions {
            operator_config: true,
            ..ServerOptions::default()
        };
        // As the ejabberd file says: the bridge asks its API who is online.
        let World { server, mut bridge, mut platform } =
            world(kind, &options, &["alice", "bob", "carol"], "").await;
        assert_ne!(server.component_port(), 5347);
        if kind == ServerKind::Ejabberd {
            drop(bridge);
            bridge = Bridge::start_with(
                &server,
                &BridgeConfig {
                    platforms: vec!["arcade@example.test".to_owned()],
                    ejabberd_api: Some(server.api_url()),
                    ..BridgeConfig::default()
                },
            )
            .await
            .expect("bridge starts");
            bridge.wait_connected(T).await.expect("bridge links up");
            bridge
                .wait_for_log("the server's API listed who is online", T)
                .await
                .expect("the API answers as the file sets it up");
            // Never online: offline, on ejabberd too.
            assert_eq!(
                availability_of(&mut platform, "carol@example.test").await["availability"],
                vec!["offline"]
            );
        }
        let (_alice, mut bob) = friends(&server, "alice", "bob").await;
        bob.send_presence(Some("chat"), None).await.unwrap();
        peers_become(&mut platform, "alice@example.test", &["bob@example.test"]).await;
        bridge
            .wait_for_log("presence=managed_entity gives local users' presence", T)
            .await
            .expect("the grants are reported");
        let log = bridge.log();
        assert!(!log.contains("has not granted"), "{}", bridge.log_tail(30));
        // Prosody takes the GC setting the file recommends (a value it rejects is logged
        // at start, and Prosody then runs with Lua's own defaults).
        assert!(
            !server.log().contains("Failed to apply GC configuration"),
            "{}",
            server.log_tail(30)
        );
    }
);

/// Two Prosody servers linked by s2s: alice and bob on the bridge's server, rob on the
/// other. With `privacy.remote_peers`, rob is alice's peer, marked remote, and confirmed
/// across the link like anyone whose server does not tell the bridge every departure;
/// without it (the default), he is never listed.
#[tokio::test]
async fn a_contact_on_another_server_is_a_remote_peer_where_the_policy_allows() {
    let (home, away) =
        crate::support::Server::start_federated(&ServerOptions::default(), "other.test")
            .await
            .expect("two servers linked by s2s");
    home.register_users(&["arcade", "alice", "bob"])
        .await
        .unwrap();
    away.register_users(&["rob"]).await.unwrap();
    let start_bridge = |remote_peers: bool| {
        let config = BridgeConfig {
            platforms: vec!["arcade@example.test".to_owned()],
            extra_toml: "\n[directory]\npresence_check_secs = 2\n".to_owned(),
            remote_peers,
            ..BridgeConfig::default()
        };
        let home = &home;
        async move {
            let mut bridge = Bridge::start_with(home, &config)
                .await
                .expect("bridge starts");
            bridge.wait_connected(T).await.expect("bridge links up");
            bridge
        }
    };
    let mut bridge = start_bridge(true).await;
    let mut platform = login(&home, "arcade").await;
    let mut alice = login(&home, "alice").await;
    let mut bob = login(&home, "bob").await;
    let mut rob = login(&away, "rob").await;
    for c in [&mut alice, &mut bob, &mut rob] {
        c.send_presence(None, None).await.unwrap();
    }
    befriend(&mut alice, &mut bob, T).await.unwrap();
    befriend(&mut alice, &mut rob, T)
        .await
        .expect("mutual contacts across servers");
    alice.send_presence(None, None).await.unwrap();
    bob.send_presence(Some("chat"), None).await.unwrap();
    rob.send_presence(Some("chat"), Some("from afar"))
        .await
        .unwrap();
    let rob = rob.in_background();
    let bob = bob.in_background();
    let alice = alice.in_background();
    peers_become(
        &mut platform,
        "alice@example.test",
        &["rob@other.test", "bob@example.test"],
    )
    .await;
    // rob's status crosses the server-to-server link after his first presence.
    let listed = crate::directory::peers_until(
        &mut platform,
        "alice@example.test",
        "rob's status",
        |rows| {
            rows.iter()
                .any(|r| r["jid"][0] == "rob@other.test" && r["status"] == ["from afar"])
        },
    )
    .await;
    let mut remote: Vec<(&str, &str)> = listed
        .iter()
        .map(|r| (r["jid"][0].as_str(), r["remote"][0].as_str()))
        .collect();
    remote.sort_unstable();
    assert_eq!(
        remote,
        vec![("bob@example.test", "0"), ("rob@other.test", "1")]
    );
    let rob_row = listed
        .iter()
        .find(|r| r["jid"][0] == "rob@other.test")
        .unwrap();
    assert_eq!(rob_row["status"], vec!["from afar"]);
    // Silent past the interval: rob is pinged across the link before he is listed again,
    // and his client answers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed = rows(&form(
        &run(&mut platform, "peers", "jid", &["alice@example.test"]).await,
    ));
    assert!(
        listed.iter().any(|r| r["jid"][0] == "rob@other.test"),
        "{listed:?}\n{}",
        bridge.log_tail(30)
    );
    let rob = rob.back().await.unwrap();
    assert!(rob.pings_answered() >= 1, "rob was not pinged");

    // The default policy: the same contact is never listed.
    bridge.terminate().await.expect("bridge stops");
    let mut bridge = start_bridge(false).await;
    let _rob = rob.in_background();
    peers_become(&mut platform, "alice@example.test", &["bob@example.test"]).await;
    // rob's presence reached the bridge, which left him out.
    bridge
        .wait_for_log("remote_peers is off", T)
        .await
        .expect("rob's presence is heard and refused");
    peers_become(&mut platform, "alice@example.test", &["bob@example.test"]).await;
    bridge.terminate().await.expect("bridge stops");
    drop((alice, bob));
}

/// ejabberd does not replay presence to a component. With its HTTP API allowed to list
/// who is online (and nothing else), the bridge knows every session when the link comes
/// up: a user never online is offline, one who logs out while it watches is offline, and
/// one online since before, who said nothing since, is online with an unknown
/// availability.
#[tokio::test]
async fn on_ejabberd_the_sessions_api_makes_offline_knowable() {
    let options = ServerOptions {
        sessions_api: true,
        ..ServerOptions::default()
    };
    let server = crate::support::Server::start_with(ServerKind::Ejabberd, &options)
        .await
        .expect("server starts");
    server
        .register_users(&["arcade", "alice", "bob", "carol", "dave"])
        .await
        .unwrap();
    // bob is online before the bridge connects, and says nothing after.
    let mut bob = login(&server, "bob").await;
    bob.send_presence(Some("away"), None).await.unwrap();
    bob.roster(T).await.unwrap();
    let _bob = bob.in_background();
    let config = BridgeConfig {
        platforms: vec!["arcade@example.test".to_owned()],
        ejabberd_api: Some(server.api_url()),
        extra_toml: format!("\n[directory]\npresence_check_secs = {CHECK_SECS}\n"),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.expect("bridge links up");
    bridge
        .wait_for_log("the server's API listed who is online", T)
        .await
        .expect("the API answered");
    let mut platform = login(&server, "arcade").await;
    assert_eq!(
        availability_of(&mut platform, "dave@example.test").await["availability"],
        vec!["offline"]
    );
    assert_eq!(
        availability_of(&mut platform, "bob@example.test").await["availability"],
        vec!["unknown"]
    );

    // A clean logout while the bridge watches: offline, not unknown.
    let mut alice = login(&server, "alice").await;
    alice.send_presence(None, None).await.unwrap();
    status_until(&mut platform, "alice@example.test", "available").await;
    alice.log_out().await;
    let row = status_until(&mut platform, "alice@example.test", "offline").await;
    assert!(row["last-seen"][0].ends_with('Z'), "{row:?}");

    // A silent departure with nobody watching: offline within the check interval.
    let mut carol = login(&server, "carol").await;
    carol.send_presence(None, None).await.unwrap();
    status_until(&mut platform, "carol@example.test", "available").await;
    let left = std::time::Instant::now();
    carol.close().await;
    let deadline = left + Duration::from_secs(CHECK_SECS + 3);
    loop {
        let row = availability_of(&mut platform, "carol@example.test").await;
        if row["availability"] == vec!["offline"] {
            eprintln!("carol offline after {} ms", left.elapsed().as_millis());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{row:?}\n{}",
            bridge.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // bob, silent all along, is pinged once the interval passed, answers, and is still
    // reported online with an unknown availability rather than guessed.
    tokio::time::sleep(Duration::from_secs(CHECK_SECS)).await;
    assert_eq!(
        availability_of(&mut platform, "bob@example.test").await["availability"],
        vec!["unknown"]
    );
    let bob = _bob.back().await.unwrap();
    assert!(bob.pings_answered() >= 1);
}

/// CPU time of a process so far, from /proc (user + system, in clock ticks of 10 ms).
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) * 10
}

/// What confirming silent users costs, measured on ejabberd: a platform asks `status` of
/// 100 online users silent past the check interval (100 pings), then again at once (none).
/// Run with:
/// `cargo nextest run --test integration --run-ignored only -E 'test(/presence_checks_cost/)' --no-capture`
#[tokio::test]
#[ignore = "a measurement: run on its own, see the doc comment"]
async fn presence_checks_cost() {
    const USERS: usize = 100;
    const ROUNDS: usize = 10;
    let server = crate::support::Server::start(ServerKind::Ejabberd)
        .await
        .expect("server starts");
    let names: Vec<String> = (0..USERS).map(|i| format!("u{i}")).collect();
    let mut accounts: Vec<&str> = names.iter().map(String::as_str).collect();
    accounts.push("arcade");
    for chunk in accounts.chunks(10) {
        server.register_users(chunk).await.unwrap();
    }
    let config = BridgeConfig {
        platforms: vec!["arcade@example.test".to_owned()],
        extra_toml: "\n[directory]\npresence_check_secs = 2\n".to_owned(),
        log_level: "info".to_owned(),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let mut platform = login(&server, "arcade").await;
    let mut users = Vec::new();
    for name in &names {
        let mut user = login(&server, name).await;
        user.send_presence(None, None).await.unwrap();
        users.push(user.in_background());
    }
    let jids: Vec<String> = names.iter().map(|n| format!("{n}@example.test")).collect();
    let jids: Vec<&str> = jids.iter().map(String::as_str).collect();
    let all_available = |rows: &[crate::directory::Row]| {
        rows.iter().all(|r| r["availability"] == vec!["available"])
    };
    let deadline = std::time::Instant::now() + T;
    while !all_available(&rows(&form(
        &run(&mut platform, "status", "jids", &jids).await,
    ))) {
        assert!(std::time::Instant::now() < deadline, "not all online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (server_pid, bridge_pid) = (server.pid().unwrap(), bridge.pid().unwrap());
    let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
    let (mut server_cpu, mut bridge_cpu) = (0, 0);
    for _ in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let (s0, b0) = (cpu_ms(server_pid), cpu_ms(bridge_pid));
        let t = std::time::Instant::now();
        let checked = rows(&form(&run(&mut platform, "status", "jids", &jids).await));
        with += t.elapsed();
        server_cpu += cpu_ms(server_pid) - s0;
        bridge_cpu += cpu_ms(bridge_pid) - b0;
        assert!(all_available(&checked), "{checked:?}");
        let t = std::time::Instant::now();
        run(&mut platform, "status", "jids", &jids).await;
        without += t.elapsed();
    }
    let pings = (USERS * ROUNDS) as u64;
    eprintln!(
        "status of {USERS} silent users: {:.1} ms with {USERS} pings, {:.1} ms without; \
         ejabberd CPU {:.3} ms per ping, bridge CPU {:.3} ms per ping (over {pings} pings)",
        with.as_secs_f64() * 1000.0 / ROUNDS as f64,
        without.as_secs_f64() * 1000.0 / ROUNDS as f64,
        server_cpu as f64 / pings as f64,
        bridge_cpu as f64 / pings as f64,
    );
    drop(users);
}
