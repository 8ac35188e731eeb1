//! The link: the server's side of XEP-0114 (handshake, reader, writer) and the world its answers describe.

use super::*;

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) id: String,
    pub(crate) ok: bool,
    pub(crate) at: Instant,
    pub(crate) size: usize,
    /// `<item>` elements: table rows of a command result.
    pub(crate) items: u32,
    /// The whole stanza, for the replies this program inspects (`h-…`, `stats-…`).
    pub(crate) body: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Event {
    Reply(Reply),
    Closed(String),
}

pub(crate) enum WriteCmd {
    Data(Vec<u8>),
    Marker(oneshot::Sender<Instant>),
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) stanzas_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) roster_gets: AtomicU64,
    pub(crate) server_iqs: AtomicU64,
    pub(crate) unexpected: AtomicU64,
    pub(crate) largest: AtomicUsize,
    pub(crate) largest_what: Mutex<String>,
    /// Messages from the bridge (invitations).
    pub(crate) messages: AtomicU64,
}

pub(crate) struct Link {
    pub(crate) out: mpsc::UnboundedSender<WriteCmd>,
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) reconnects: Arc<AtomicU64>,
}

impl Link {
    pub(crate) fn send(&self, s: String) {
        self.send_bytes(s.into_bytes());
    }

    pub(crate) fn send_bytes(&self, b: Vec<u8>) {
        // A closed writer shows up as an Event::Closed on the next wait.
        let _ = self.out.send(WriteCmd::Data(b));
    }

    /// Resolves when everything sent before it has been written to the socket.
    pub(crate) fn marker(&self) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        let _ = self.out.send(WriteCmd::Marker(tx));
        rx
    }

    pub(crate) async fn next_event(
        &mut self,
        bridge: &mut Bridge,
        deadline: Instant,
        what: &str,
    ) -> Res<Event> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                bridge.check_alive()?;
                return Err(format!("timed out waiting for {what}").into());
            }
            let slice = (deadline - now).min(Duration::from_millis(500));
            match tokio::time::timeout(slice, self.events.recv()).await {
                Ok(Some(ev)) => return Ok(ev),
                Ok(None) => return Err("the connection's reader stopped".into()),
                Err(_) => bridge.check_alive()?,
            }
        }
    }

    /// A ping from the server to the component, answered after everything sent before it.
    pub(crate) async fn ping(
        &mut self,
        bridge: &mut Bridge,
        id: &str,
        limit: Duration,
    ) -> Res<Duration> {
        let t0 = Instant::now();
        self.send(format!(
            "<iq type='get' id='{id}' from='{DOMAIN}' to='{COMPONENT}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        let deadline = t0 + limit;
        loop {
            match self
                .next_event(bridge, deadline, &format!("the answer to the ping {id}"))
                .await?
            {
                Event::Reply(r) if r.id == id => {
                    if !r.ok {
                        return Err(format!("the ping {id} was answered with an error").into());
                    }
                    return Ok(t0.elapsed());
                }
                Event::Reply(_) => {}
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
        }
    }

    /// The operator's `stats` command: its fields by name.
    pub(crate) async fn stats(
        &mut self,
        bridge: &mut Bridge,
        id: &str,
    ) -> Res<HashMap<String, String>> {
        self.send(format!(
            "<iq type='set' id='{id}' from='{ADMIN}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='stats' action='execute'/></iq>"
        ));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self
                .next_event(bridge, deadline, "the answer to the stats command")
                .await?
            {
                Event::Reply(r) if r.id == id => {
                    let body = r.body.unwrap_or_default();
                    if !r.ok {
                        return Err(format!("stats was refused: {}", error_condition(&body)).into());
                    }
                    return Ok(form_fields(&body));
                }
                Event::Reply(_) => {}
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
        }
    }
}

pub(crate) fn link_lost(bridge: &mut Bridge, reason: &str) -> BoxError {
    // Give a dying process a moment to be reaped so the message can say it died.
    std::thread::sleep(Duration::from_millis(200));
    match bridge.check_alive() {
        Err(died) => format!("the link to the bridge was lost ({reason}): {died}").into(),
        Ok(()) => format!(
            "the bridge dropped the link ({reason}); the process is still running (it will reconnect)"
        )
        .into(),
    }
}

/// The world the answers to the bridge's queries describe.
#[derive(Clone, Copy)]
pub(crate) struct World {
    pub(crate) users: usize,
    pub(crate) contacts: usize,
}

impl World {
    pub(crate) fn roster(&self, user: &str) -> String {
        let mut items = String::new();
        let index = user
            .strip_prefix("user")
            .and_then(|rest| rest.strip_suffix(&format!("@{DOMAIN}")))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(u) = index {
            for k in 1..=self.contacts {
                let contact = (u + k) % self.users;
                let subscription = if k <= MUTUAL {
                    "both"
                } else if k % 2 == 0 {
                    "to"
                } else {
                    "from"
                };
                let _ = write!(
                    items,
                    "<item jid='user{contact}@{DOMAIN}' subscription='{subscription}' name='User {contact}'><group>Friends</group></item>"
                );
            }
        }
        items
    }
}

pub(crate) async fn connect(
    bridge: &mut Bridge,
    listener: TcpListener,
    secret: &str,
    opts: &Opts,
) -> Res<Link> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let socket = loop {
        let now = Instant::now();
        if now >= deadline {
            return Err("the bridge did not connect within 20 s".into());
        }
        match tokio::time::timeout(Duration::from_millis(200), listener.accept()).await {
            Ok(Ok((socket, _))) => break socket,
            Ok(Err(e)) => return Err(format!("accept failed: {e}").into()),
            Err(_) => bridge.check_alive()?,
        }
    };
    socket.set_nodelay(true)?;
    let reconnects = Arc::new(AtomicU64::new(0));
    let counter = reconnects.clone();
    tokio::spawn(async move {
        // Any further connection is the bridge reconnecting: count it, hold it open.
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            held.push(s);
        }
    });
    let (mut rd, mut wr) = socket.into_split();
    let mut scanner = Scanner::default();
    let limit = Duration::from_secs(15);
    let header = read_token(&mut rd, &mut scanner, limit).await?;
    match header {
        Tok::Header(range) => {
            let text = String::from_utf8_lossy(&scanner.buf[range]).into_owned();
            if !text.contains(COMPONENT) || !text.contains("jabber:component:accept") {
                return Err(format!("unexpected stream header from the bridge: {text}").into());
            }
        }
        _ => return Err("the bridge did not open a stream".into()),
    }
    let stream_id = format!("{:x}", nanos());
    wr.write_all(
        format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' from='{COMPONENT}' id='{stream_id}'>"
        )
        .as_bytes(),
    )
    .await?;
    let handshake = match read_token(&mut rd, &mut scanner, limit).await? {
        Tok::Stanza(range) => String::from_utf8_lossy(&scanner.buf[range]).into_owned(),
        _ => return Err("the bridge did not send a handshake".into()),
    };
    let expected: String = Handshake::from_stream_id_and_password(stream_id, secret)
        .data
        .ok_or("no handshake digest")?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = handshake
        .split_once('>')
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(d, _)| d.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !handshake.starts_with("<handshake") || digest != expected {
        wr.write_all(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").await?;
        return Err(format!("bad handshake from the bridge: {handshake}").into());
    }
    wr.write_all(b"<handshake/>").await?;
    scanner.compact();

    let counters = Arc::new(Counters::default());
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let world = World {
        users: opts.users,
        contacts: opts.contacts,
    };
    tokio::spawn(writer(wr, out_rx, ev_tx.clone(), counters.clone()));
    tokio::spawn(reader(
        rd,
        scanner,
        world,
        out_tx.clone(),
        ev_tx,
        counters.clone(),
    ));
    Ok(Link {
        out: out_tx,
        events: ev_rx,
        counters,
        reconnects,
    })
}

pub(crate) async fn read_token(
    rd: &mut OwnedReadHalf,
    scanner: &mut Scanner,
    limit: Duration,
) -> Res<Tok> {
    let deadline = Instant::now() + limit;
    let mut chunk = vec![0u8; 4096];
    loop {
        if let Some(tok) = scanner.next()? {
            return Ok(tok);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, rd.read(&mut chunk))
            .await
            .map_err(|_| "the bridge said nothing during the handshake for 15 s")??;
        if n == 0 {
            return Err("the bridge closed the connection during the handshake".into());
        }
        scanner.buf.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<WriteCmd>,
    events: mpsc::UnboundedSender<Event>,
    counters: Arc<Counters>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut markers = Vec::new();
    while let Some(cmd) = rx.recv().await {
        let mut cmd = Some(cmd);
        while let Some(c) = cmd.take() {
            match c {
                WriteCmd::Data(d) if buf.is_empty() => buf = d,
                WriteCmd::Data(d) => buf.extend_from_slice(&d),
                WriteCmd::Marker(m) => markers.push(m),
            }
            if buf.len() < 1 << 20 {
                cmd = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            if let Err(e) = wr.write_all(&buf).await {
                let _ = events.send(Event::Closed(format!("cannot write to the bridge: {e}")));
                return;
            }
            counters
                .bytes_out
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            buf.clear();
        }
        for m in markers.drain(..) {
            let _ = m.send(Instant::now());
        }
    }
}

pub(crate) async fn reader(
    mut rd: OwnedReadHalf,
    mut scanner: Scanner,
    world: World,
    out: mpsc::UnboundedSender<WriteCmd>,
    events: mpsc::UnboundedSender<Event>,
    counters: Arc<Counters>,
) {
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        loop {
            match scanner.next() {
                Ok(Some(Tok::Stanza(range))) => {
                    let at = Instant::now();
                    on_stanza(&scanner.buf[range], at, world, &out, &events, &counters);
                }
                Ok(Some(Tok::Footer)) => {
                    let _ = out.send(WriteCmd::Data(b"</stream:stream>".to_vec()));
                    let _ = events.send(Event::Closed(
                        "the bridge closed its XML stream (</stream:stream>)".to_owned(),
                    ));
                    return;
                }
                Ok(Some(Tok::Header(_))) => {
                    let _ = events.send(Event::Closed(
                        "the bridge opened a second stream on the same connection".to_owned(),
                    ));
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(Event::Closed(format!("the bridge sent bad XML: {e}")));
                    return;
                }
            }
        }
        scanner.compact();
        match rd.read(&mut chunk).await {
            Ok(0) => {
                let _ = events.send(Event::Closed(
                    "the bridge closed the TCP connection".to_owned(),
                ));
                return;
            }
            Ok(n) => {
                counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                scanner.buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) => {
                let _ = events.send(Event::Closed(format!(
                    "reading from the bridge failed: {e}"
                )));
                return;
            }
        }
    }
}

pub(crate) fn on_stanza(
    s: &[u8],
    at: Instant,
    world: World,
    out: &mpsc::UnboundedSender<WriteCmd>,
    events: &mpsc::UnboundedSender<Event>,
    counters: &Counters,
) {
    counters.stanzas_in.fetch_add(1, Ordering::Relaxed);
    let Some(tag) = parse_tag(s) else {
        counters.unexpected.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let attr = |name: &str| tag.attr(name).unwrap_or("");
    if counters.largest.fetch_max(s.len(), Ordering::Relaxed) < s.len() {
        if let Ok(mut what) = counters.largest_what.lock() {
            *what = format!(
                "<{} type='{}' id='{}'>",
                tag.name,
                attr("type"),
                truncate(attr("id"), 40)
            );
        }
    }
    if tag.name == "message" {
        // Invitations, in the invite phase.
        counters.messages.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if tag.name != "iq" {
        // The bridge has no reason to send presences in this run.
        counters.unexpected.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let (id, from, to) = (attr("id"), attr("from"), attr("to"));
    if from == COMPONENT && to == COMPONENT {
        // The link's pings to itself, which check that it is the component's only
        // connection: a server routes them back, as to any of the component's stanzas.
        let _ = out.send(WriteCmd::Data(s.to_vec()));
        return;
    }
    match attr("type") {
        "result" | "error" => {
            let keep_body =
                id.starts_with("h-") || id.starts_with("stats-") || attr("type") == "error";
            let reply = Reply {
                id: id.to_owned(),
                ok: attr("type") == "result",
                at,
                size: s.len(),
                // Form rows, or compact items.
                items: (count(s, b"<item>") + count(s, b"<peer ") + count(s, b"<user ")) as u32,
                body: keep_body.then(|| String::from_utf8_lossy(s).into_owned()),
            };
            let _ = events.send(Event::Reply(reply));
        }
        "get" | "set" => {
            let child_ns = first_child(s, tag.end)
                .and_then(|c| c.attr("xmlns").map(str::to_owned))
                .unwrap_or_default();
            let (id, from, to) = (escape_attr(id), escape_attr(from), escape_attr(to));
            let head = format!("<iq type='result' id='{id}' from='{to}' to='{from}'>");
            let answer = if to == DOMAIN {
                counters.server_iqs.fetch_add(1, Ordering::Relaxed);
                match child_ns.as_str() {
                    "jabber:iq:version" => format!(
                        "{head}<query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.3</version></query></iq>"
                    ),
                    "http://jabber.org/protocol/disco#info" => format!(
                        "{head}<query xmlns='http://jabber.org/protocol/disco#info'>\
                         <identity category='server' type='im' name='Prosody'/>\
                         <feature var='http://jabber.org/protocol/disco#info'/>\
                         <feature var='http://jabber.org/protocol/disco#items'/>\
                         <feature var='jabber:iq:version'/><feature var='urn:xmpp:ping'/>\
                         <feature var='jabber:iq:roster'/></query></iq>"
                    ),
                    "urn:xmpp:ping" => format!("{head}</iq>"),
                    _ => service_unavailable(&id, &to, &from),
                }
            } else if child_ns == "jabber:iq:roster" && to.ends_with(&format!("@{DOMAIN}")) {
                counters.roster_gets.fetch_add(1, Ordering::Relaxed);
                format!(
                    "{head}<query xmlns='jabber:iq:roster' ver='1'>{}</query></iq>",
                    world.roster(&to)
                )
            } else {
                counters.unexpected.fetch_add(1, Ordering::Relaxed);
                service_unavailable(&id, &to, &from)
            };
            let _ = out.send(WriteCmd::Data(answer.into_bytes()));
        }
        _ => {
            counters.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) fn service_unavailable(id: &str, from: &str, to: &str) -> String {
    format!(
        "<iq type='error' id='{id}' from='{from}' to='{to}'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
}
