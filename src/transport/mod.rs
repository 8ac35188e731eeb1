//! The link to the server: XEP-0114 (Jabber Component Protocol) over TCP.
//!
//! The bridge owns its stream reader and writer ([`reader`], [`writer`]) rather than using
//! tokio-xmpp's: that reader ends the stream on any token over 8 KiB, which any user can
//! send through the server. Here any well-formed stanza up to the configured size reaches
//! the core, which answers or drops it; a larger or deeper one is skipped and reported;
//! only the server closing the stream, a socket error, XML that is not well-formed or a
//! dead link (no answer to a keepalive) ends a connection.
//!
//! Responsibilities: connect and authenticate (§3, the SHA-1 handshake), keep the link
//! alive (an XEP-0199 ping to the server after `keepalive` of silence, the link declared
//! dead if nothing arrives within `response_timeout`), reconnect with capped exponential
//! backoff and jitter, tell the core of every link change, and close the stream cleanly at
//! shutdown after sending what the core still had to say.
//!
//! Batches both ways: what one read from the socket parsed goes to the core as one batch
//! (one wake-up of the core's thread, however many stanzas), and the core's stanzas come
//! serialised, a batch at a time. They wait in [`fair`]'s queues, one per destination,
//! and leave in turns within a window of what the server has not processed yet, so that
//! one requester's backlog does not delay another's answers; what is ready at a wake-up
//! leaves in one `write`.
//!
//! Back-pressure: the channel to the core is bounded. When it is full the link stops
//! reading from the socket (the server's TCP window then slows the server) but keeps
//! writing the core's answers, so the core can always drain it.
//!
//! XEP-0114 is unencrypted: the link belongs on loopback or a private network.

pub mod backoff;
pub mod fair;
pub mod reader;
pub mod route;
pub mod sessions_api;
pub mod writer;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use minidom::rxml::xml_ncname;
use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, trace, warn};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use crate::core::Input;
use crate::health::LinkReport;
use crate::logging::Throttle;
use crate::wire::{Stanzas, Xml, STREAM_NS};
use backoff::{random_u64, Backoff};
use fair::{Pacer, MARK_PREFIX};
use reader::{ReaderLimits, StreamEvent, StreamReader, NS_STREAM};
use route::{Heard, RouteCheck, Verdict};
use writer::Writer;

/// Ids of keepalive pings start with this; their replies stay in the transport.
const KEEPALIVE_PREFIX: &str = "keepalive-";

/// Connection attempts refused in a row before the log says what is likely wrong (once
/// per run of refusals).
const REFUSED_BEFORE_HINT: u32 = 3;

/// A link that stayed up this long resets the backoff.
const STABLE_LINK: Duration = Duration::from_secs(30);

/// Bytes read from the socket at once, and so at most in one batch to the core (about 30
/// presences). Larger reads were measured to batch no better and to keep more memory in
/// flight (and, through the allocator, resident).
const READ_CHUNK: usize = 8 * 1024;

/// At most one warning per this interval about skipped or oversized stanzas; the others
/// are counted and the count logged with the next warning.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub host: String,
    pub port: u16,
    pub component: BareJid,
    pub secret: Secret,
    /// Where keepalive pings go: a domain of the server.
    pub keepalive_to: BareJid,
    pub keepalive: Duration,
    pub response_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Incoming stanzas larger than this are skipped.
    pub max_incoming_stanza_bytes: usize,
    /// Check at each link-up that the server routes the component's stanzas to this link
    /// alone ([`route`]).
    pub route_check: bool,
}

/// Problems that reconnecting cannot fix: the operator must change a configuration.
#[derive(Debug, thiserror::Error)]
pub enum FatalLinkError {
    #[error(
        "the server at {addr} refused the handshake of {component} (not-authorized): either the secret is wrong or, on ejabberd, which answers the same to both, the server has no component by this name. Check that the file or variable named by server.secret_file/secret_env holds exactly the server's secret for this component (Prosody: component_secret in the Component block; ejabberd: password under ejabberd_service hosts), and that component.jid is the component name the server is configured with"
    )]
    SecretRejected { addr: String, component: BareJid },
    #[error(
        "the server at {addr} does not know the component {component}: add it to the server's configuration (Prosody: a Component \"{component}\" block; ejabberd: {component} under the ejabberd_service listener's hosts), or fix component.jid"
    )]
    UnknownComponent { addr: String, component: BareJid },
}

/// Why one connection attempt or one connection ended.
#[derive(Debug)]
enum Ended {
    /// Shutdown was asked for and the stream was closed.
    Shutdown,
    /// The link is gone; reconnect.
    Lost(String),
    /// Nothing accepts connections at the address (reconnect, and after a few in a row,
    /// say what is likely wrong).
    Refused(String),
    /// The link was ended on purpose, to be made again at once.
    Relink(String),
    /// Do not reconnect.
    Fatal(FatalLinkError),
}

/// Runs the link until shutdown: connects, serves, reconnects.
///
/// `events` receives every [`Input`] for the core except ticks, in batches; it is dropped
/// as soon as shutdown is asked for, which tells the core that no more input will come.
/// `outgoing` carries the core's stanzas, serialised; when it closes (the core is done),
/// the stream is closed.
pub async fn run(
    settings: LinkSettings,
    events: mpsc::Sender<Vec<Input>>,
    mut outgoing: mpsc::Receiver<Stanzas>,
    mut shutdown: watch::Receiver<bool>,
    queue: std::sync::Arc<LinkReport>,
) -> Result<(), FatalLinkError> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let mut backoff = Backoff::new(settings.reconnect_initial, settings.reconnect_max);
    let mut events = Some(events);
    let mut warnings = Throttle::new(WARN_INTERVAL);
    // What the core says while the link is down, for the next link. The core never waits
    // for a link that is down.
    let mut held = Held::default();
    // Connection attempts refused in a row.
    let mut refused = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        info!(%addr, component = %settings.component, "connecting to the server");
        let attempt = tokio::select! {
            result = held.meanwhile(connect(&settings, &addr), &mut outgoing) => result,
            _ = shutdown.changed() => break,
        };
        match attempt {
            Ok(link) => {
                refused = 0;
                info!(%addr, component = %settings.component, "link up");
                let up_at = Instant::now();
                held.meanwhile(send_event(&mut events, Input::Connected), &mut outgoing)
                    .await;
                queue.route_shared.store(false, Ordering::Relaxed);
                let mut serving = Serving {
                    link,
                    settings: &settings,
                    events: &mut events,
                    pending: Vec::new(),
                    warnings: &mut warnings,
                    pacer: Pacer::new(marker(&settings)),
                    queue: &queue,
                    route: RouteCheck::new(random_u64(), settings.response_timeout),
                    foreign_heard: false,
                };
                let ended = serving
                    .serve(held.take(), &mut outgoing, &mut shutdown)
                    .await;
                // What was not written yet waits for the next link, first.
                let unsent = serving.pacer.drain();
                serving.report();
                if !unsent.ends.is_empty() {
                    held.restore(unsent);
                }
                // What was read before the link went down still reaches the core first.
                let pending = std::mem::take(&mut serving.pending);
                if !pending.is_empty() {
                    held.meanwhile(send_batch(&mut events, pending), &mut outgoing)
                        .await;
                }
                if up_at.elapsed() >= STABLE_LINK {
                    backoff.reset();
                }
                match ended {
                    Ended::Shutdown => return Ok(()),
                    Ended::Fatal(e) => return Err(e),
                    Ended::Lost(reason) | Ended::Refused(reason) => {
                        warn!(%reason, "link down");
                        held.meanwhile(
                            send_event(&mut events, Input::Disconnected { reason }),
                            &mut outgoing,
                        )
                        .await;
                    }
                    Ended::Relink(reason) => {
                        info!(%reason, "linking again");
                        held.meanwhile(
                            send_event(&mut events, Input::Disconnected { reason }),
                            &mut outgoing,
                        )
                        .await;
                        // At once: the server is there, and serves this link alone.
                        continue;
                    }
                }
            }
            Err(Ended::Fatal(e)) => return Err(e),
            Err(Ended::Shutdown) => break,
            // The core already knows the link is down; only the log hears of each attempt.
            Err(Ended::Lost(reason) | Ended::Relink(reason)) => {
                refused = 0;
                warn!(%reason, "cannot connect")
            }
            Err(Ended::Refused(reason)) => {
                refused += 1;
                warn!(%reason, "cannot connect");
                if refused == REFUSED_BEFORE_HINT {
                    warn!(
                        %addr,
                        attempts = refused,
                        "nothing accepts connections at {addr}: check that the server runs and that server.port is its component port: Prosody's component_ports (read only before the first VirtualHost or Component line of prosody.cfg.lua; placed after one, Prosody silently keeps listening on 5347), or the port of ejabberd's ejabberd_service listener; and that the server listens on server.host (Prosody's component_interfaces, ejabberd's ip)"
                    );
                }
            }
        }
        if *shutdown.borrow() || held.core_done {
            break;
        }
        let delay = backoff.next_delay(random_u64());
        info!(
            attempt = backoff.attempts(),
            delay_ms = delay.as_millis() as u64,
            "reconnecting after a delay"
        );
        tokio::select! {
            _ = held.meanwhile(tokio::time::sleep(delay), &mut outgoing) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Shut down while the link is down: nobody to say goodbye to. Drain what the core
    // still produces so it can finish, then stop.
    drop(events);
    let mut discarded = held.take().iter().map(Stanzas::count).sum::<usize>() + held.dropped;
    while let Some(stanzas) = outgoing.recv().await {
        discarded += stanzas.count();
    }
    if discarded > 0 {
        warn!(discarded, "stanzas not sent: the link was down at shutdown");
    }
    Ok(())
}

/// Most stanzas kept while the link is down; older batches are dropped first.
const HELD_MAX: usize = 4096;

/// Stanzas from the core kept while the link is down.
#[derive(Default)]
struct Held {
    batches: VecDeque<Stanzas>,
    /// Stanzas in `batches`.
    count: usize,
    /// Dropped at the cap since the last link.
    dropped: usize,
    /// The core closed its side: nothing more will come.
    core_done: bool,
}

impl Held {
    /// Runs `work`, keeping what the core sends meanwhile.
    async fn meanwhile<F: std::future::Future>(
        &mut self,
        work: F,
        outgoing: &mut mpsc::Receiver<Stanzas>,
    ) -> F::Output {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                done = &mut work => return done,
                batch = outgoing.recv(), if !self.core_done => match batch {
                    Some(batch) => {
                        self.count += batch.count();
                        self.batches.push_back(batch);
                        self.trim();
                    }
                    None => self.core_done = true,
                },
            }
        }
    }

    /// Puts back what a lost link did not write, before anything held since. It comes in
    /// turns, so what does not fit is the end of the longest queues: the flooders'.
    fn restore(&mut self, mut batch: Stanzas) {
        let room = HELD_MAX.saturating_sub(self.count);
        if batch.count() > room {
            self.dropped += batch.count() - room;
            batch.truncate(room);
        }
        self.count += batch.count();
        self.batches.push_front(batch);
        self.trim();
    }

    /// Drops the oldest stanzas past [`HELD_MAX`], a stanza at a time.
    fn trim(&mut self) {
        while self.count > HELD_MAX {
            let excess = self.count - HELD_MAX;
            let Some(oldest) = self.batches.front_mut() else {
                break;
            };
            let dropped = excess.min(oldest.count());
            oldest.drop_front(dropped);
            if oldest.count() == 0 {
                self.batches.pop_front();
            }
            self.count -= dropped;
            self.dropped += dropped;
        }
    }

    fn take(&mut self) -> VecDeque<Stanzas> {
        if self.dropped > 0 {
            warn!(
                dropped = self.dropped,
                "stanzas not sent: too many waited while the link was down"
            );
            self.dropped = 0;
        }
        self.count = 0;
        std::mem::take(&mut self.batches)
    }
}

async fn send_event(events: &mut Option<mpsc::Sender<Vec<Input>>>, input: Input) {
    if let Some(tx) = events {
        if tx.send(vec![input]).await.is_err() {
            // The core is gone (it only stops at shutdown); nothing left to tell.
            *events = None;
        }
    }
}

async fn send_batch(events: &mut Option<mpsc::Sender<Vec<Input>>>, batch: Vec<Input>) {
    if let Some(tx) = events {
        if tx.send(batch).await.is_err() {
            *events = None;
        }
    }
}

/// One TCP connection with its stream reader and writer.
struct Link {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    reader: StreamReader,
    writer: Writer,
    /// Parsed from the socket, not yet handled.
    parsed: VecDeque<StreamEvent>,
    chunk: Box<[u8]>,
    response_timeout: Duration,
}

impl Link {
    /// Reads from the socket once and parses what came. `Err` when the connection or the
    /// stream is over.
    async fn read_some(&mut self) -> Result<(), Ended> {
        let n = self
            .read
            .read(&mut self.chunk)
            .await
            .map_err(|e| Ended::Lost(format!("connection lost ({e})")))?;
        if n == 0 {
            // Not fed to the parser as the end of the document: a stream cut short is
            // the server going away (a restart), not bad XML.
            return Err(Ended::Lost(
                "the server closed the connection without closing the stream".to_owned(),
            ));
        }
        // After every read: the server's next write may be a small one held by Nagle's
        // algorithm until this read is acknowledged (measured: the answer to a flow marker
        // read less than a millisecond after a request waited 40 ms when it was set only
        // once a millisecond).
        quick_ack(&self.read);
        let mut events = Vec::new();
        let parsed = self.reader.feed(&self.chunk[..n], false, &mut events);
        self.parsed.extend(events);
        parsed.map_err(|e| Ended::Lost(e.to_string()))
    }

    /// The next event, reading as needed (used before the link is up).
    async fn next_event(&mut self) -> Result<StreamEvent, Ended> {
        loop {
            if let Some(event) = self.parsed.pop_front() {
                return Ok(event);
            }
            self.read_some().await?;
        }
    }

    /// Writes what the writer holds. A server that stops reading (its socket open, its
    /// window closed) would otherwise block the link forever, unseen by the keepalive.
    async fn flush(&mut self) -> Result<(), String> {
        if self.writer.is_empty() {
            return Ok(());
        }
        let limit = self.response_timeout;
        match tokio::time::timeout(limit, self.write.write_all(self.writer.pending())).await {
            Ok(Ok(())) => {
                self.writer.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(format!("cannot send: {e}")),
            Err(_) => Err(format!(
                "the server has not taken a stanza for {} s: the link is stuck",
                limit.as_secs()
            )),
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Ended> {
        tokio::time::timeout(self.response_timeout, self.write.write_all(bytes))
            .await
            .map_err(|_| Ended::Lost("the server does not read".to_owned()))?
            .map_err(|e| Ended::Lost(format!("cannot send: {e}")))
    }
}

/// TCP connect, stream header, handshake.
async fn connect(settings: &LinkSettings, addr: &str) -> Result<Link, Ended> {
    let lost = |what: &str, e: &dyn std::fmt::Display| Ended::Lost(format!("{what}: {e}"));
    let deadline = settings.response_timeout;
    let tcp = tokio::time::timeout(
        deadline,
        TcpStream::connect((settings.host.as_str(), settings.port)),
    )
    .await
    .map_err(|e| lost("connecting timed out", &e))?
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Ended::Refused(format!("cannot connect: {e}"))
        } else {
            lost("cannot connect", &e)
        }
    })?;
    // Small stanzas, latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    let (read, write) = tcp.into_split();
    let mut link = Link {
        read,
        write,
        reader: StreamReader::new(ReaderLimits {
            max_stanza_bytes: settings.max_incoming_stanza_bytes,
            ..ReaderLimits::default()
        }),
        writer: Writer::default(),
        parsed: VecDeque::new(),
        chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
        response_timeout: settings.response_timeout,
    };
    link.write_raw(&writer::stream_header(settings.component.as_str()))
        .await?;
    let stream_id = match tokio::time::timeout(deadline, link.next_event())
        .await
        .map_err(|e| lost("no stream header from the server", &e))??
    {
        StreamEvent::Header { id: Some(id) } => id,
        StreamEvent::Header { id: None } => {
            return Err(Ended::Lost(
                "the server's stream header has no id".to_owned(),
            ))
        }
        other => {
            return Err(Ended::Lost(format!(
                "expected the server's stream header, got {other:?}"
            )))
        }
    };
    let handshake = Handshake::from_stream_id_and_password(stream_id, settings.secret.expose());
    let handshake: Element = handshake.into();
    link.writer.push(serialise(&handshake));
    link.flush()
        .await
        .map_err(|e| lost("cannot send the handshake", &e))?;
    let reply = match tokio::time::timeout(deadline, link.next_event())
        .await
        .map_err(|e| lost("no answer to the handshake", &e))??
    {
        StreamEvent::Stanza(el) => el,
        StreamEvent::Footer => {
            return Err(Ended::Lost(
                "the server closed the stream instead of answering the handshake".to_owned(),
            ))
        }
        other => {
            return Err(Ended::Lost(format!(
                "unexpected {other:?} instead of the handshake reply"
            )))
        }
    };
    if reply.is("handshake", ns::COMPONENT_ACCEPT) {
        return Ok(link);
    }
    if reply.is("error", NS_STREAM) {
        let condition = stream_error_condition(&reply);
        return Err(match condition.as_str() {
            "not-authorized" => Ended::Fatal(FatalLinkError::SecretRejected {
                addr: addr.to_owned(),
                component: settings.component.clone(),
            }),
            "host-unknown" | "improper-addressing" => {
                Ended::Fatal(FatalLinkError::UnknownComponent {
                    addr: addr.to_owned(),
                    component: settings.component.clone(),
                })
            }
            _ => Ended::Lost(format!("the server refused the handshake: {condition}")),
        });
    }
    Err(Ended::Lost(format!(
        "unexpected <{}/> instead of the handshake reply",
        crate::failure::quote(reply.name())
    )))
}

/// A link for a look only (`doctor`): connected and authenticated as the bridge's
/// would be, read and written a stanza at a time, then closed. It never serves.
pub struct Probe {
    link: Link,
}

/// Why a probe could not link.
#[derive(Debug)]
pub enum ProbeError {
    /// Nothing accepts connections at the address.
    Refused(String),
    /// The connection or the stream failed, or the server refused the handshake for
    /// another reason (such as `conflict`: a component of that name is connected).
    Lost(String),
    /// The server refused the secret or does not know the component.
    Fatal(FatalLinkError),
}

impl Probe {
    /// Connects and shakes hands as the bridge does.
    pub async fn connect(settings: &LinkSettings) -> Result<Probe, ProbeError> {
        let addr = format!("{}:{}", settings.host, settings.port);
        match connect(settings, &addr).await {
            Ok(link) => Ok(Probe { link }),
            Err(Ended::Refused(why)) => Err(ProbeError::Refused(why)),
            Err(Ended::Fatal(fatal)) => Err(ProbeError::Fatal(fatal)),
            Err(Ended::Lost(why) | Ended::Relink(why)) => Err(ProbeError::Lost(why)),
            Err(Ended::Shutdown) => Err(ProbeError::Lost("shut down".to_owned())),
        }
    }

    pub async fn send(&mut self, stanza: &Element) -> Result<(), String> {
        self.link.writer.push(serialise(stanza));
        self.link.flush().await
    }

    /// The next stanza from the server, if one comes before `until` and the stream
    /// goes on.
    pub async fn next(&mut self, until: tokio::time::Instant) -> Option<Element> {
        loop {
            match tokio::time::timeout_at(until, self.link.next_event()).await {
                Ok(Ok(StreamEvent::Stanza(el))) => return Some(el),
                Ok(Ok(StreamEvent::Header { .. } | StreamEvent::Skipped { .. })) => continue,
                Ok(Ok(StreamEvent::Footer) | Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Closes the stream.
    pub async fn close(mut self) {
        let _ = self.link.write_raw(writer::STREAM_FOOTER).await;
    }
}

/// `<stream:error><not-authorized/>...</stream:error>` → "not-authorized".
fn stream_error_condition(el: &Element) -> String {
    el.children()
        .find(|c| c.ns() == ns::XMPP_STREAMS)
        .filter(|c| c.name() != "text")
        .map(|c| crate::failure::quote(c.name()))
        .unwrap_or_else(|| "undefined-condition".to_owned())
}

/// A connection being served.
struct Serving<'a> {
    link: Link,
    settings: &'a LinkSettings,
    events: &'a mut Option<mpsc::Sender<Vec<Input>>>,
    /// Read from the server, waiting for room in the channel to the core: one batch.
    pending: Vec<Input>,
    warnings: &'a mut Throttle,
    /// The core's stanzas waiting to be written, in turns, within a window.
    pacer: Pacer,
    /// Where `stats` reads the send queue and the route.
    queue: &'a LinkReport,
    /// Whether the server routes the component's stanzas to this link alone.
    route: RouteCheck,
    /// Another live connection's route pings were heard (said once a link).
    foreign_heard: bool,
}

impl Serving<'_> {
    /// Moves stanzas both ways until the link is lost or shutdown completes.
    async fn serve(
        &mut self,
        held: VecDeque<Stanzas>,
        outgoing: &mut mpsc::Receiver<Stanzas>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        for batch in held {
            self.push(batch);
        }
        if let Err(reason) = self.send_ready().await {
            return Ended::Lost(reason);
        }
        // What came in the same read as the handshake's answer (the privilege
        // advertisement, the start of a presence replay).
        if let Some(ended) = self.take_parsed() {
            return ended;
        }
        if self.settings.route_check {
            if let Err(reason) = self.route_round().await {
                return Ended::Lost(reason);
            }
        }
        let mut keepalives = 0u64;
        let mut reading = !*shutdown.borrow();
        let mut last_heard = tokio::time::Instant::now();
        // When the keepalive ping in flight must be answered by.
        let mut ping_deadline: Option<tokio::time::Instant> = None;
        loop {
            self.deliver_ready();
            if !reading && self.pending.is_empty() {
                // Shutting down, and the core has everything that was read: no more input.
                *self.events = None;
            }
            let read_now = reading && self.pending.is_empty();
            let wake = ping_deadline.unwrap_or(last_heard + self.settings.keepalive);
            // A marker the server does not answer: as a keepalive it does not answer.
            // Counted from when the link last heard or handed the core something: while
            // the core is busy the link does not read, and the answer may be waiting.
            let marker_due = self.pacer.oldest_mark().map(|at| {
                tokio::time::Instant::from_std(at).max(last_heard) + self.settings.response_timeout
            });
            let route_due = self.route.wake().map(tokio::time::Instant::from_std);
            let core = self.events.clone();
            tokio::select! {
                biased;
                changed = shutdown.changed(), if reading => {
                    if changed.is_err() || *shutdown.borrow() {
                        // Stop reading; what was read still reaches the core (each request
                        // gets its answer), which then finishes and closes `outgoing`.
                        info!("shutting down: no longer reading from the server");
                        reading = false;
                    }
                }
                out = outgoing.recv(), if self.pacer.has_room() => match out {
                    Some(batch) => {
                        self.push(batch);
                        while self.pacer.has_room() {
                            match outgoing.try_recv() {
                                Ok(batch) => self.push(batch),
                                Err(_) => break,
                            }
                        }
                        if let Err(reason) = self.send_ready().await {
                            return Ended::Lost(reason);
                        }
                    }
                    None => return self.close().await,
                },
                permit = reserve(core.as_ref()), if !self.pending.is_empty() => match permit {
                    Some(permit) => {
                        permit.send(std::mem::take(&mut self.pending));
                        // The core is busy, not the server: the link counts as alive.
                        last_heard = tokio::time::Instant::now();
                    }
                    None => {
                        *self.events = None;
                        self.pending.clear();
                    }
                },
                read = self.link.read_some(), if read_now => {
                    if let Err(ended) = read {
                        // What was parsed before the end still counts.
                        return self.take_parsed().unwrap_or(ended);
                    }
                    last_heard = tokio::time::Instant::now();
                    ping_deadline = None;
                    if let Some(ended) = self.take_parsed() {
                        return ended;
                    }
                    if let Some(ended) = self.route_step().await {
                        return ended;
                    }
                    // An answered marker may have opened the window.
                    if let Err(reason) = self.send_ready().await {
                        return Ended::Lost(reason);
                    }
                }
                _ = sleep_until_some(route_due), if read_now => {
                    if let Some(ended) = self.route_step().await {
                        return ended;
                    }
                }
                _ = sleep_until_some(marker_due), if read_now => {
                    return Ended::Lost(format!(
                        "the server has not answered a flow marker (a ping) for {} s: the link is stuck",
                        self.settings.response_timeout.as_secs()
                    ));
                }
                _ = tokio::time::sleep_until(wake), if read_now => {
                    if ping_deadline.is_some() {
                        return Ended::Lost("no answer to the keepalive: the link is dead".to_owned());
                    }
                    keepalives += 1;
                    debug!("link silent: sending a keepalive ping");
                    self.link.writer.push(serialise(&keepalive_ping(self.settings, keepalives)));
                    if let Err(reason) = self.link.flush().await {
                        return Ended::Lost(reason);
                    }
                    ping_deadline = Some(tokio::time::Instant::now() + self.settings.response_timeout);
                }
                // Not reached: after every write the send queue has room, so the core's
                // stanzas are always awaited. Were it reached, a new link beats a panic.
                else => return Ended::Lost("nothing left to wait for on the link".to_owned()),
            }
        }
    }

    /// Hands what was read to the core, as one batch, if its channel has room.
    fn deliver_ready(&mut self) {
        let Some(tx) = self.events.as_ref() else {
            self.pending.clear();
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        match tx.try_send(std::mem::take(&mut self.pending)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => self.pending = batch,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *self.events = None;
            }
        }
    }

    /// Turns parsed stream events into inputs; `Some` when the stream is over.
    fn take_parsed(&mut self) -> Option<Ended> {
        while let Some(event) = self.link.parsed.pop_front() {
            match event {
                StreamEvent::Stanza(el) => {
                    trace!(xml = %String::from(&el), "recv");
                    match self.route.heard(&el, &self.settings.component) {
                        Heard::NotAProbe => {}
                        Heard::Ours | Heard::Stale => continue,
                        Heard::Foreign => {
                            self.queue.route_foreign.fetch_add(1, Ordering::Relaxed);
                            if !std::mem::replace(&mut self.foreign_heard, true) {
                                warn!(
                                    component = %self.settings.component,
                                    "another connection of the component is alive and checks its route too: two bridges are linked as the component at once, each sent part of its stanzas. Only one bridge may link per component name; bridges sharing the work must share one database (storage.url), which lets one link at a time"
                                );
                            }
                            continue;
                        }
                        Heard::Refused => {
                            self.queue.route_shared.store(false, Ordering::Relaxed);
                            info!("the server refused a ping of the component to itself: the link cannot check that the component's stanzas all reach it");
                            continue;
                        }
                    }
                    if is_keepalive_reply(&el, self.settings) {
                        continue;
                    }
                    if let Some(id) = reply_id(&el, MARK_PREFIX, self.settings) {
                        self.pacer.on_answer(id, std::time::Instant::now());
                        continue;
                    }
                    if el.is("error", NS_STREAM) {
                        return Some(Ended::Lost(format!(
                            "stream error from the server: {}",
                            stream_error_condition(&el)
                        )));
                    }
                    self.pending.push(Input::Stanza(el));
                }
                StreamEvent::Skipped { reason, head } => {
                    if let Some(suppressed) = self.warnings.allow(std::time::SystemTime::now()) {
                        warn!(
                            reason = reason.as_str(),
                            suppressed, "skipped a stanza from the server"
                        );
                    }
                    self.pending.push(Input::Skipped {
                        head,
                        reason: reason.as_str(),
                    });
                }
                StreamEvent::Footer => {
                    return Some(Ended::Lost("the server closed the stream".to_owned()))
                }
                StreamEvent::Header { .. } => {}
            }
        }
        None
    }

    /// Sends a round of route pings.
    async fn route_round(&mut self) -> Result<(), String> {
        let bytes = self
            .route
            .round(&self.settings.component, std::time::Instant::now());
        self.queue
            .route_probes
            .fetch_add(route::PROBES as u64, Ordering::Relaxed);
        self.link.writer.push(bytes);
        self.link.flush().await
    }

    /// Acts on the route check's verdict if it has one now, and sends the next round when
    /// due; `Some` when the link is to end.
    async fn route_step(&mut self) -> Option<Ended> {
        let now = std::time::Instant::now();
        match self.route.judge(now) {
            None => {}
            Some(Verdict::Whole) => {
                debug!("the server routes the component's stanzas to this link alone")
            }
            Some(Verdict::Unsupported) => {
                self.queue.route_shared.store(false, Ordering::Relaxed);
                info!(
                    "the server routes none of the component's pings to itself back: the link cannot check that the component's stanzas all reach it"
                )
            }
            Some(Verdict::Shared { lost, sent, first }) => {
                self.queue.route_shared.store(true, Ordering::Relaxed);
                self.queue
                    .route_probes_lost
                    .fetch_add(lost as u64, Ordering::Relaxed);
                if first {
                    warn!(
                        lost,
                        sent,
                        "the server sends part of the component's stanzas to another connection ({lost} of the {sent} pings this link sent itself went there), and what goes there is lost. Most likely a bridge that served before vanished without closing its connection (its machine or its network lost): ejabberd keeps such a connection until the kernel gives up on it, about 15 minutes by default (component-config/ejabberd-vm.args makes it seconds). Until then this bridge reports itself not ready; it links again once they all reach it"
                    );
                } else {
                    debug!(lost, sent, "the route is still shared");
                }
            }
            Some(Verdict::WholeAgain) => {
                self.queue.route_shared.store(false, Ordering::Relaxed);
                self.queue.route_relinks.fetch_add(1, Ordering::Relaxed);
                // A polite end: the server drops this connection's route at once.
                let _ = self.link.write_raw(writer::STREAM_FOOTER).await;
                return Some(Ended::Relink(
                    "the server sends all of the component's stanzas to this link again; a new link has it advertise its grants again and the directory read again, since what went elsewhere is lost".to_owned(),
                ));
            }
        }
        if self.route.round_due(now) {
            if let Err(reason) = self.route_round().await {
                return Some(Ended::Lost(reason));
            }
        }
        None
    }

    fn push(&mut self, batch: Stanzas) {
        trace!(xml = %String::from_utf8_lossy(&batch.bytes), "queued");
        self.pacer.push(batch);
    }

    /// Writes what the pacer lets go now.
    async fn send_ready(&mut self) -> Result<(), String> {
        let bytes = self.pacer.ready(std::time::Instant::now());
        self.report();
        if bytes.is_empty() {
            return Ok(());
        }
        trace!(xml = %String::from_utf8_lossy(&bytes), "written");
        self.link.writer.push(bytes);
        self.link.flush().await
    }

    fn report(&self) {
        self.queue.set(self.pacer.stats());
    }

    /// The core is done: close our side and give the server a moment to close its own,
    /// so nothing in flight is cut off.
    async fn close(&mut self) -> Ended {
        let rest = self.pacer.drain();
        self.report();
        self.link.writer.push(rest.bytes);
        let _ = self.link.flush().await;
        let _ = self.link.write_raw(writer::STREAM_FOOTER).await;
        let _ = self.link.write.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.link.read_some().await.is_ok() {
                if self.link.parsed.iter().any(|e| *e == StreamEvent::Footer) {
                    break;
                }
                self.link.parsed.clear();
            }
        })
        .await;
        info!("stream closed");
        Ended::Shutdown
    }
}

async fn reserve(tx: Option<&mpsc::Sender<Vec<Input>>>) -> Option<mpsc::Permit<'_, Vec<Input>>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

fn keepalive_ping(settings: &LinkSettings, n: u64) -> Element {
    Element::builder("iq", STREAM_NS)
        .attr(xml_ncname!("type").into(), "get")
        .attr(xml_ncname!("id").into(), format!("{KEEPALIVE_PREFIX}{n}"))
        .attr(xml_ncname!("from").into(), settings.component.to_string())
        .attr(xml_ncname!("to").into(), settings.keepalive_to.to_string())
        .append(Element::builder("ping", ns::PING).build())
        .build()
}

/// Writes the flow marker with the given number: a ping to the server.
fn marker(settings: &LinkSettings) -> Box<dyn Fn(u64) -> Vec<u8> + Send> {
    let (from, to) = (
        settings.component.to_string(),
        settings.keepalive_to.to_string(),
    );
    Box::new(move |n| {
        let mut bytes = Vec::with_capacity(128);
        let mut xml = Xml::new(&mut bytes);
        xml.open("iq")
            .attr_plain("type", b"get")
            .attr("id", &format!("{MARK_PREFIX}{n}"))
            .attr("from", &from)
            .attr("to", &to)
            .head_end();
        xml.open("ping").attr("xmlns", ns::PING).empty_end();
        xml.close("iq");
        bytes
    })
}

/// Acknowledges what the server sends at once instead of up to 40 ms later (Linux's
/// delayed ACK), until the kernel's next decision (the option does not last, so it is set
/// after each read). The server (Prosody keeps Nagle's algorithm on) holds back a small
/// write while its previous one is unacknowledged: without this, a stanza larger than
/// one of its 8 KiB writes (a large roster), or a flow marker's answer while the bridge
/// waits for it with nothing to send, would wait for the bridge's delayed ACK.
fn quick_ack(read: &OwnedReadHalf) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(read.as_ref()).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = read;
}

/// Sleeps until `at`, or forever.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The id of the server's reply (result or error) to one of the link's own pings, whose
/// id starts with `prefix`. Only the server's domain can send it: a user cannot forge one
/// (the server stamps a user's `from`).
fn reply_id<'a>(el: &'a Element, prefix: &str, settings: &LinkSettings) -> Option<&'a str> {
    if !el.is("iq", ns::COMPONENT_ACCEPT)
        || !matches!(el.attr("type"), Some("result") | Some("error"))
        || el.attr("from") != Some(settings.keepalive_to.as_str())
    {
        return None;
    }
    el.attr("id").filter(|id| id.starts_with(prefix))
}

/// The link's own stanzas (the handshake, keepalives), serialised.
fn serialise(el: &Element) -> Vec<u8> {
    let mut bytes = Vec::new();
    Xml::new(&mut bytes).element(el, STREAM_NS);
    bytes
}

/// A reply (result or error: both prove the link is alive) to one of our keepalives.
fn is_keepalive_reply(el: &Element, settings: &LinkSettings) -> bool {
    reply_id(el, KEEPALIVE_PREFIX, settings).is_some()
}

/// The XEP-0114 shared secret. Never printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Option<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Some(value.into()))
    }

    /// The secret of a configuration loaded for the database only
    /// ([`crate::config::Config::load_without_secret`]): never read, and empty if anything asks.
    pub fn unread() -> Secret {
        Secret(None)
    }

    pub fn is_read(&self) -> bool {
        self.0.is_some()
    }

    pub fn expose(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
