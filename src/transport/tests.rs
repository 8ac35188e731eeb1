//! The transport against a scripted XEP-0114 peer on loopback (not a real server: those
//! are in the integration tests).

use super::*;
use std::str::FromStr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "s3cret";

fn settings(port: u16) -> LinkSettings {
    LinkSettings {
        host: "127.0.0.1".to_owned(),
        port,
        component: BareJid::from_str("game.example.test").unwrap(),
        secret: Secret::new(SECRET),
        keepalive_to: BareJid::from_str("example.test").unwrap(),
        keepalive: Duration::from_secs(60),
        response_timeout: Duration::from_secs(5),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        max_incoming_stanza_bytes: reader::DEFAULT_MAX_STANZA_BYTES,
        route_check: false,
    }
}

/// One accepted connection of the scripted server.
struct Peer {
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    async fn read_until(&mut self, marker: &str) -> String {
        loop {
            if let Some(pos) = find(&self.buf, marker.as_bytes()) {
                let end = pos + marker.len();
                let taken: Vec<u8> = self.buf.drain(..end).collect();
                return String::from_utf8(taken).unwrap();
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), self.socket.read(&mut chunk))
                .await
                .expect("peer read timed out")
                .unwrap();
            assert!(n > 0, "component closed while peer waited for {marker:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write(&mut self, s: &str) {
        self.socket.write_all(s.as_bytes()).await.unwrap();
    }

    /// Stream header exchange and handshake; `accept` decides the outcome.
    async fn accept(listener: &TcpListener, accept: bool) -> Peer {
        let (socket, _) = listener.accept().await.unwrap();
        let mut peer = Peer {
            socket,
            buf: Vec::new(),
        };
        let header = peer.read_until(">").await;
        let header = if header.starts_with("<?xml") {
            peer.read_until(">").await
        } else {
            header
        };
        assert!(
            header.contains("to=\"game.example.test\"")
                || header.contains("to='game.example.test'"),
            "{header}"
        );
        peer.write("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='game.example.test' id='abc123'>").await;
        let handshake = peer.read_until("</handshake>").await;
        let expected = Handshake::from_stream_id_and_password("abc123".to_owned(), SECRET);
        let digest: String = expected
            .data
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if accept {
            assert!(handshake.contains(&digest), "bad digest in {handshake}");
            peer.write("<handshake/>").await;
        } else {
            peer.write("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").await;
        }
        peer
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Harness {
    events: mpsc::Receiver<Vec<Input>>,
    /// Inputs of a batch received but not looked at yet.
    ready: VecDeque<Input>,
    /// Batches received.
    batches: usize,
    out: mpsc::Sender<Stanzas>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), FatalLinkError>>,
}

fn start(settings: LinkSettings) -> Harness {
    start_with_queue(settings, 64)
}

fn start_with_queue(settings: LinkSettings, queue: usize) -> Harness {
    let (events_tx, events) = mpsc::channel(queue);
    let (out, out_rx) = mpsc::channel(queue);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run(
        settings,
        events_tx,
        out_rx,
        shutdown_rx,
        std::sync::Arc::default(),
    ));
    Harness {
        events,
        ready: VecDeque::new(),
        batches: 0,
        out,
        shutdown,
        task,
    }
}

/// A link up with the scripted server: settings changed by `configure`, room for
/// `queue` inputs to the core, the handshake accepted and `Connected` seen.
async fn linked(queue: usize, configure: impl FnOnce(&mut LinkSettings)) -> (Harness, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(listener.local_addr().unwrap().port());
    configure(&mut s);
    let mut h = start_with_queue(s, queue);
    let peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
    (h, peer)
}

impl Harness {
    async fn next_event(&mut self) -> Input {
        loop {
            if let Some(input) = self.ready.pop_front() {
                return input;
            }
            let batch = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("no event within 10 s")
                .expect("events channel closed");
            assert!(!batch.is_empty(), "an empty batch");
            self.batches += 1;
            self.ready.extend(batch);
        }
    }

    /// Sends `xml` as the core would: serialised.
    async fn send(&self, xml: &str) {
        self.out.send(stanzas(xml)).await.unwrap();
    }
}

#[tokio::test]
async fn rejected_secret_is_fatal_and_says_what_to_check() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = start(settings(listener.local_addr().unwrap().port()));
    let _peer = Peer::accept(&listener, false).await;
    let result = tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .unwrap()
        .unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, FatalLinkError::SecretRejected { .. }));
    assert!(err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn stanza_xmpp_parsers_rejects_reaches_the_core_and_the_stream_goes_on() {
    let (mut h, mut peer) = linked(64, |_| {}).await;
    peer.write(
        "<presence from='a@example.test/x' to='game.example.test'><show>online</show></presence>",
    )
    .await;
    peer.write("<iq type='get' id='p1' from='a@example.test/x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    match h.next_event().await {
        Input::Stanza(el) => assert!(el.is("presence", ns::COMPONENT_ACCEPT)),
        other => panic!("{other:?}"),
    }
    match h.next_event().await {
        Input::Stanza(el) => assert_eq!(el.attr("id"), Some("p1")),
        other => panic!("{other:?}"),
    }
    // And the component can still write.
    h.out
        .try_send(stanzas("<iq xmlns='jabber:component:accept' type='result' id='p1' from='game.example.test' to='a@example.test/x'/>"))
        .unwrap();
    let reply = peer.read_until("p1").await;
    assert!(reply.contains("<iq"), "{reply}");
}

#[tokio::test]
async fn lost_link_is_reported_and_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut h = start(settings(listener.local_addr().unwrap().port()));
    let peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
    drop(peer);
    assert!(matches!(h.next_event().await, Input::Disconnected { .. }));
    let _peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
}

#[tokio::test]
async fn silence_brings_a_keepalive_ping_whose_reply_stays_in_the_transport() {
    let (mut h, mut peer) = linked(64, |s| {
        s.keepalive = Duration::from_millis(300);
    })
    .await;
    let ping = peer.read_until("</iq>").await;
    assert!(
        ping.contains("urn:xmpp:ping") && ping.contains("keepalive-1"),
        "{ping}"
    );
    assert!(ping.contains("example.test"), "{ping}");
    peer.write("<iq type='result' id='keepalive-1' from='example.test' to='game.example.test'/>")
        .await;
    peer.write("<message from='a@example.test/x' to='game.example.test'><body>hi</body></message>")
        .await;
    match h.next_event().await {
        Input::Stanza(el) => assert!(
            el.is("message", ns::COMPONENT_ACCEPT),
            "keepalive reply leaked"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unanswered_keepalive_declares_the_link_dead() {
    let (mut h, _peer) = linked(64, |s| {
        s.keepalive = Duration::from_millis(200);
        s.response_timeout = Duration::from_millis(400);
    })
    .await;
    match h.next_event().await {
        Input::Disconnected { reason } => assert!(reason.contains("keepalive"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shutdown_sends_the_last_stanzas_then_closes_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Harness {
        mut events,
        out,
        shutdown,
        task,
        ..
    } = start(settings(listener.local_addr().unwrap().port()));
    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(
        events.recv().await.as_deref(),
        Some([Input::Connected])
    ));
    shutdown.send(true).unwrap();
    // The core still answers what it had, then finishes.
    out.send(stanzas("<message xmlns='jabber:component:accept' from='game.example.test' to='a@example.test'><body>last</body></message>")).await.unwrap();
    drop(out);
    let tail = peer.read_until("</stream:stream>").await;
    assert!(tail.contains("last"), "{tail}");
    peer.write("</stream:stream>").await;
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
    // No more input is promised to the core.
    let closed = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
    assert!(matches!(closed, Ok(None)), "events channel still open");
}

/// One stanza, serialised as the core hands it over.
fn stanzas(xml: &str) -> Stanzas {
    let mut wire = crate::wire::Wire::new(usize::MAX);
    wire.send(&xml_element(xml));
    wire.take()
}

fn xml_element(s: &str) -> Element {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_stanza_nested_thirty_thousand_levels_is_dropped_and_the_stream_goes_on() {
    let (mut h, mut peer) = linked(64, |_| {}).await;
    let depth = 30_000;
    let bomb = format!(
        "<message from='a@example.test/x' to='game.example.test'>{}{}</message>",
        "<a xmlns='urn:x'>".repeat(depth),
        "</a>".repeat(depth)
    );
    peer.write(&bomb).await;
    peer.write("<iq type='get' id='after' from='a@example.test/x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert!(matches!(h.next_event().await, Input::Skipped { .. }));
    match h.next_event().await {
        Input::Stanza(el) => assert_eq!(el.attr("id"), Some("after")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tokens_over_eight_kib_reach_the_core_and_the_stream_goes_on() {
    let (mut h, mut peer) = linked(64, |_| {}).await;
    let ver = "v".repeat(20_000);
    let name = "n".repeat(9_000);
    peer.write(&format!(
        "<presence from='a@example.test/x' to='game.example.test'><c xmlns='http://jabber.org/protocol/caps' ver='{ver}' {name}='1'/><{name} xmlns='urn:x'/></presence>"
    ))
    .await;
    match h.next_event().await {
        Input::Stanza(el) => assert_eq!(
            el.children()
                .next()
                .and_then(|c| c.attr("ver"))
                .map(str::len),
            Some(20_000)
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stanza_over_the_limit_is_skipped_counted_and_the_stream_goes_on() {
    let (mut h, mut peer) = linked(64, |s| {
        s.max_incoming_stanza_bytes = 64 * 1024;
    })
    .await;
    let text = "t".repeat(1_000);
    let big = format!(
        "<message from='a@example.test/x' to='game.example.test'>{}</message>",
        format!("<body>{text}</body>").repeat(100)
    );
    peer.write(&big).await;
    peer.write("<iq type='get' id='after' from='a@example.test/x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert!(matches!(h.next_event().await, Input::Skipped { .. }));
    match h.next_event().await {
        Input::Stanza(el) => assert_eq!(el.attr("id"), Some("after")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_busy_core_stops_reading_but_answers_still_go_out() {
    // A queue of 4 that nobody empties: the core is busy.
    let (mut h, peer) = linked(4, |_| {}).await;
    // Far more than the queue holds; the server side can write them all into the socket.
    let mut flood = String::new();
    for i in 0..20_000 {
        flood.push_str(&format!("<message from='a@example.test/x' to='game.example.test' id='m{i}'><body>{i}</body></message>"));
    }
    // The scripted server writes while the link does not read: in its own task.
    let (mut peer_read, mut peer_write) = peer.socket.into_split();
    let writing = tokio::spawn(async move { peer_write.write_all(flood.as_bytes()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The link is alive and writes what the core sends while it is not reading.
    h.send("<message xmlns='jabber:component:accept' from='game.example.test' to='a@example.test'><body>still here</body></message>")
        .await;
    let mut seen = Vec::new();
    while find(&seen, b"still here").is_none() {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), peer_read.read(&mut chunk))
            .await
            .expect("the answer did not come while the core was busy")
            .unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&chunk[..n]);
    }
    // Once the core catches up, every stanza arrives, in order.
    for i in 0..20_000 {
        match h.next_event().await {
            Input::Stanza(el) => assert_eq!(el.attr("id"), Some(format!("m{i}").as_str())),
            other => panic!("{other:?}"),
        }
    }
    writing.await.unwrap().unwrap();
}

#[tokio::test]
async fn what_one_read_brings_reaches_the_core_as_one_batch() {
    let (mut h, mut peer) = linked(64, |_| {}).await;
    let mut burst = String::new();
    for i in 0..1_000 {
        burst.push_str(&format!(
            "<presence from='u{i}@example.test/r' to='game.example.test'><show>chat</show></presence>"
        ));
    }
    // About 90 KB: a dozen reads, so about a dozen batches, not a thousand.
    peer.write(&burst).await;
    for i in 0..1_000 {
        match h.next_event().await {
            Input::Stanza(el) => {
                assert_eq!(
                    el.attr("from"),
                    Some(format!("u{i}@example.test/r").as_str())
                )
            }
            other => panic!("{other:?}"),
        }
    }
    let reads = burst.len() / READ_CHUNK + 1;
    assert!(
        h.batches <= reads + 2,
        "{} batches for {reads} reads",
        h.batches
    );
}

#[tokio::test]
async fn stanzas_in_the_same_read_as_the_handshake_reach_the_core_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut h = start(settings(listener.local_addr().unwrap().port()));
    let (socket, _) = listener.accept().await.unwrap();
    let mut peer = Peer {
        socket,
        buf: Vec::new(),
    };
    peer.read_until("to=").await;
    peer.read_until(">").await;
    peer.write("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='game.example.test' id='abc123'>").await;
    peer.read_until("</handshake>").await;
    // The handshake's answer and the privilege advertisement in one write.
    peer.write("<handshake/><message from='example.test' to='game.example.test' id='adv'><privilege xmlns='urn:xmpp:privilege:2'/></message>").await;
    assert!(matches!(h.next_event().await, Input::Connected));
    let event = tokio::time::timeout(Duration::from_secs(2), h.next_event())
        .await
        .expect("the advertisement waited for another read");
    match event {
        Input::Stanza(el) => assert_eq!(el.attr("id"), Some("adv")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn at_shutdown_what_was_read_still_reaches_the_core() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Harness {
        mut events,
        out,
        shutdown,
        task,
        ..
    } = start_with_queue(settings(listener.local_addr().unwrap().port()), 1);
    let mut peer = Peer::accept(&listener, true).await;
    let mut flood = String::new();
    for i in 0..10 {
        flood.push_str(&format!("<iq type='get' id='q{i}' from='a@example.test/x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>"));
    }
    peer.write(&flood).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.send(true).unwrap();
    let mut ids = Vec::new();
    while let Some(batch) = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the events channel neither closed nor delivered")
    {
        for input in batch {
            if let Input::Stanza(el) = input {
                ids.push(el.attr("id").unwrap_or("").to_owned());
            }
        }
    }
    assert_eq!(ids, (0..10).map(|i| format!("q{i}")).collect::<Vec<_>>());
    drop(out);
    let _ = peer.read_until("</stream:stream>").await;
    peer.write("</stream:stream>").await;
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}

#[test]
fn only_the_server_answers_the_links_own_pings() {
    let settings = settings(5347);
    let reply = |from: &str| -> Element {
        format!("<iq xmlns='jabber:component:accept' type='result' id='{MARK_PREFIX}7' from='{from}' to='game.example.test'/>")
            .parse()
            .unwrap()
    };
    assert_eq!(
        reply_id(&reply("example.test"), MARK_PREFIX, &settings),
        Some("flow-7")
    );
    // A user cannot confirm the link's markers (and so open its window).
    assert_eq!(
        reply_id(&reply("mallory@example.test/x"), MARK_PREFIX, &settings),
        None
    );
    assert!(!is_keepalive_reply(
        &reply("mallory@example.test/x"),
        &settings
    ));
}

async fn next(events: &mut mpsc::Receiver<Vec<Input>>) -> Vec<Input> {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the link runs")
}

/// Reads a round of route pings: the text of each.
async fn route_round(peer: &mut Peer) -> Vec<String> {
    let mut round = Vec::new();
    for _ in 0..route::PROBES {
        let ping = peer.read_until("</iq>").await;
        let start = ping.find("<iq").expect("an iq");
        let ping = ping[start..].to_owned();
        assert!(ping.contains(route::ROUTE_PREFIX), "{ping}");
        round.push(ping);
    }
    round
}

/// ejabberd's case: another connection of the component (a bridge gone without closing
/// its connection) takes part of what the server sends the component. The link finds its
/// route shared and says so; once a round comes back whole it closes its stream and links
/// again at once, and the new link, routed alone, stays.
#[tokio::test]
async fn a_shared_route_is_reported_and_the_link_made_again_once_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(listener.local_addr().unwrap().port());
    s.route_check = true;
    let report: std::sync::Arc<LinkReport> = std::sync::Arc::default();
    let (events_tx, mut events) = mpsc::channel(64);
    let (_out, out_rx) = mpsc::channel(64);
    let (_shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(run(s, events_tx, out_rx, shutdown_rx, report.clone()));

    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(next(&mut events).await[..], [Input::Connected]));
    // Every other ping goes elsewhere.
    let round = route_round(&mut peer).await;
    for ping in round.iter().step_by(2) {
        peer.write(ping).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !report.route_shared.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "the route was not found shared");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(report.route_probes_lost.load(Ordering::Relaxed), 8);
    // Rounds go on, half a second apart, while the route is shared.
    let round = route_round(&mut peer).await;
    peer.write(&round[3]).await;
    peer.write(&round[9]).await;
    // The other connection is gone: all of the next round comes back.
    let round = route_round(&mut peer).await;
    for ping in &round {
        peer.write(ping).await;
    }
    peer.read_until("</stream:stream>").await;
    let down = next(&mut events).await;
    match &down[..] {
        [Input::Disconnected { reason }] => assert!(reason.contains("again"), "{reason}"),
        other => panic!("expected the link to go down, got {other:?}"),
    }
    assert!(!report.route_shared.load(Ordering::Relaxed));
    assert_eq!(report.route_relinks.load(Ordering::Relaxed), 1);
    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(next(&mut events).await[..], [Input::Connected]));
    for ping in route_round(&mut peer).await {
        peer.write(&ping).await;
    }
    // Whole: no more rounds, and the link stays.
    let more = tokio::time::timeout(Duration::from_millis(2500), peer.read_until("</iq>")).await;
    assert!(more.is_err(), "another round after a whole one: {more:?}");
    assert_eq!(report.route_relinks.load(Ordering::Relaxed), 1);
    assert_eq!(
        report.route_probes.load(Ordering::Relaxed),
        4 * route::PROBES as u64
    );
}
