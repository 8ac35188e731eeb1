//! The transport against a scripted XEP-0114 peer on loopback (not a real server: those
//! are in the integration tests).

use super::*;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
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
    events: std_mpsc::Receiver<Input>,
    out: mpsc::UnboundedSender<Element>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), FatalLinkError>>,
}

fn start(settings: LinkSettings) -> Harness {
    let (events_tx, events) = std_mpsc::channel();
    let (out, out_rx) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run(settings, events_tx, out_rx, shutdown_rx));
    Harness {
        events,
        out,
        shutdown,
        task,
    }
}

impl Harness {
    async fn next_event(&self) -> Input {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.events.try_recv() {
                Ok(input) => return input,
                Err(std_mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("no event: {e:?}"),
            }
        }
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = start(settings(listener.local_addr().unwrap().port()));
    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
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
        .send(xml_element("<iq xmlns='jabber:component:accept' type='result' id='p1' from='game.example.test' to='a@example.test/x'/>"))
        .unwrap();
    let reply = peer.read_until("</iq>").await;
    assert!(reply.contains("p1"), "{reply}");
}

#[tokio::test]
async fn lost_link_is_reported_and_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = start(settings(listener.local_addr().unwrap().port()));
    let peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
    drop(peer);
    assert!(matches!(h.next_event().await, Input::Disconnected { .. }));
    let _peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
}

#[tokio::test]
async fn silence_brings_a_keepalive_ping_whose_reply_stays_in_the_transport() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(listener.local_addr().unwrap().port());
    s.keepalive = Duration::from_millis(300);
    let h = start(s);
    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings(listener.local_addr().unwrap().port());
    s.keepalive = Duration::from_millis(200);
    s.response_timeout = Duration::from_millis(400);
    let h = start(s);
    let _peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
    match h.next_event().await {
        Input::Disconnected { reason } => assert!(reason.contains("keepalive"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shutdown_sends_the_last_stanzas_then_closes_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Harness {
        events,
        out,
        shutdown,
        task,
    } = start(settings(listener.local_addr().unwrap().port()));
    let mut peer = Peer::accept(&listener, true).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.try_recv().is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.send(true).unwrap();
    // The core still answers what it had, then finishes.
    out.send(xml_element("<message xmlns='jabber:component:accept' from='game.example.test' to='a@example.test'><body>last</body></message>")).unwrap();
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
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match events.try_recv() {
            Err(std_mpsc::TryRecvError::Disconnected) => break,
            _ if Instant::now() > deadline => panic!("events channel still open"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn xml_element(s: &str) -> Element {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_stanza_nested_thirty_thousand_levels_is_dropped_and_the_stream_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = start(settings(listener.local_addr().unwrap().port()));
    let mut peer = Peer::accept(&listener, true).await;
    assert!(matches!(h.next_event().await, Input::Connected));
    let depth = 30_000;
    let bomb = format!(
        "<message from='a@example.test/x' to='game.example.test'>{}{}</message>",
        "<a xmlns='urn:x'>".repeat(depth),
        "</a>".repeat(depth)
    );
    peer.write(&bomb).await;
    peer.write("<iq type='get' id='after' from='a@example.test/x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    match h.next_event().await {
        Input::Stanza(el) => assert_eq!(el.attr("id"), Some("after")),
        other => panic!("{other:?}"),
    }
}
