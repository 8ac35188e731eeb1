//! Test XMPP sessions on tokio-xmpp's low-level `xmlstream` API: a user's c2s session
//! (RFC 6120: stream, SASL PLAIN, reset, resource bind), a bare XEP-0114 component session
//! for smoke tests, and in-band registration (XEP-0077).
//!
//! Why not `tokio_xmpp::Client`: the crate under test enables xmpp-parsers' `component`
//! feature, which makes the typed `Message`/`Presence`/`Iq` serialise in
//! `jabber:component:accept`, wrong on a c2s stream. Here every stanza is a
//! `minidom::Element` in the stream's own namespace, so a test can also send stanzas that
//! xmpp-parsers would reject (e.g. `<show>online</show>`), as a misbehaving client would.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use minidom::rxml::xml_ncname;
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::parsers::component::Handshake;
use tokio_xmpp::parsers::sasl::{Auth, Mechanism};
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::xmlstream::{initiate_stream, ReadError, StreamHeader, Timeouts, XmlStream};

use super::Server;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_COMPONENT: &str = "jabber:component:accept";
const NS_STREAM: &str = "http://etherx.jabber.org/streams";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
const NS_REGISTER: &str = "jabber:iq:register";
const NS_PING: &str = "urn:xmpp:ping";

/// Upper bound for stream setup (TCP, features, auth, bind) against a local server.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Prefix of the ids of our own keepalive pings, whose replies never reach the test.
const KEEPALIVE_ID: &str = "keepalive-";

type Io = BufStream<TcpStream>;

/// One XML stream to the server. Everything received and not yet consumed waits in an inbox,
/// in arrival order, so a test can match stanzas out of order and still inspect the rest.
pub struct Client {
    stream: XmlStream<Io, Element>,
    /// The stream's content namespace: `jabber:client` or `jabber:component:accept`.
    ns: &'static str,
    /// Bound full JID (c2s), the component JID, or empty before authentication.
    jid: String,
    /// Where keepalive pings go.
    domain: String,
    inbox: VecDeque<Element>,
    next_id: u64,
    /// Why the stream ended, once it has.
    closed: Option<String>,
    /// Pings from others answered so far.
    pings_answered: u64,
}

/// A client that keeps reading (and answering pings) while the test does other things,
/// as a real chat client does; [`Background::back`] returns it with what it received.
pub struct Background {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Client>,
}

impl Background {
    pub async fn back(self) -> Result<Client, String> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| format!("the background client task failed: {e}"))
    }
}

/// xmlstream's timeouts: after `read_timeout` of silence we ping the server (see `read`),
/// and only a server that then stays silent for `response_timeout` kills the stream.
fn timeouts() -> Timeouts {
    Timeouts {
        read_timeout: Duration::from_secs(30),
        response_timeout: Duration::from_secs(30),
    }
}

impl Client {
    /// Logs `user@domain/resource` in over c2s (SASL PLAIN, bind, session if required).
    pub async fn connect(
        server: &Server,
        user: &str,
        password: &str,
        resource: &str,
    ) -> Result<Client, String> {
        Self::connect_c2s(server.c2s_addr(), server.domain(), user, password, resource).await
    }

    /// Same as [`Client::connect`] for any c2s address.
    pub async fn connect_c2s(
        addr: SocketAddr,
        domain: &str,
        user: &str,
        password: &str,
        resource: &str,
    ) -> Result<Client, String> {
        let who = format!("{user}@{domain}/{resource}");
        tokio::time::timeout(
            LOGIN_TIMEOUT,
            Self::login(addr, domain, user, password, resource),
        )
        .await
        .map_err(|_| format!("c2s login of {who} at {addr} timed out after {LOGIN_TIMEOUT:?}"))?
        .map_err(|e| format!("c2s login of {who} at {addr}: {e}"))
    }

    async fn login(
        addr: SocketAddr,
        domain: &str,
        user: &str,
        password: &str,
        resource: &str,
    ) -> Result<Client, String> {
        let (features, mut stream) = open_stream(addr, NS_CLIENT, domain).await?;
        if !features.sasl_mechanisms.contains("PLAIN") {
            return Err(format!(
                "server offers no SASL PLAIN (offered: {:?})",
                features.sasl_mechanisms
            ));
        }
        // RFC 4616: authzid (empty) NUL authcid NUL password.
        let mut data = vec![0u8];
        data.extend_from_slice(user.as_bytes());
        data.push(0);
        data.extend_from_slice(password.as_bytes());
        stream
            .send(&Auth {
                mechanism: Mechanism::Plain,
                data,
            })
            .await
            .map_err(|e| format!("cannot send SASL auth: {e}"))?;
        let outcome = next_raw(&mut stream).await?;
        if !outcome.is("success", NS_SASL) {
            return Err(format!("SASL PLAIN refused: {}", show(&outcome)));
        }
        // RFC 6120 §6.4.6: after SASL success both sides restart the stream.
        let pending = stream
            .initiate_reset()
            .send_header(header_to(domain))
            .await
            .map_err(|e| format!("cannot restart the stream after SASL: {e}"))?;
        let (features, stream) = pending
            .recv_features::<Element>()
            .await
            .map_err(|e| format!("no stream features after SASL: {e}"))?;
        let mut client = Client::new(stream, NS_CLIENT, domain);

        let bind = Element::builder("iq", NS_CLIENT)
            .attr(xml_ncname!("type").to_owned(), "set")
            .append(
                Element::builder("bind", NS_BIND)
                    .append(
                        Element::builder("resource", NS_BIND)
                            .append(resource)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let bound = client.iq_result(bind, LOGIN_TIMEOUT).await?;
        client.jid = bound
            .get_child("bind", NS_BIND)
            .and_then(|b| b.get_child("jid", NS_BIND))
            .map(|j| j.text())
            .ok_or_else(|| format!("bind result without <jid/>: {}", show(&bound)))?;

        // RFC 3921 sessions: only servers that still require them (no <optional/>) get one.
        let session_required = features
            .others
            .iter()
            .any(|f| f.is("session", NS_SESSION) && !f.has_child("optional", NS_SESSION));
        if session_required {
            let session = Element::builder("iq", NS_CLIENT)
                .attr(xml_ncname!("type").to_owned(), "set")
                .append(Element::builder("session", NS_SESSION).build())
                .build();
            client.iq_result(session, LOGIN_TIMEOUT).await?;
        }
        Ok(client)
    }

    /// Connects as an external component (XEP-0114 handshake) to the server's component
    /// port. The real component under test is the binary (see `Bridge`); this is for smoke
    /// tests of the server setup and for tests that need a second component.
    pub async fn connect_component(
        server: &Server,
        jid: &str,
        secret: &str,
    ) -> Result<Client, String> {
        Self::connect_component_at(server.component_addr(), jid, secret).await
    }

    /// [`Client::connect_component`] to the component port at `addr`.
    pub async fn connect_component_at(
        addr: SocketAddr,
        jid: &str,
        secret: &str,
    ) -> Result<Client, String> {
        tokio::time::timeout(LOGIN_TIMEOUT, Self::component_login(addr, jid, secret))
            .await
            .map_err(|_| format!("component login of {jid} at {addr} timed out"))?
            .map_err(|e| format!("component login of {jid} at {addr}: {e}"))
    }

    async fn component_login(addr: SocketAddr, jid: &str, secret: &str) -> Result<Client, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut pending = initiate_stream(
            BufStream::new(tcp),
            NS_COMPONENT,
            header_to(jid),
            timeouts(),
        )
        .await
        .map_err(|e| format!("no stream header from the server: {e}"))?;
        let stream_id = pending
            .take_header()
            .id
            .ok_or("the server's stream header has no id")?
            .into_owned();
        // XEP-0114 streams have no features: the handshake follows the header directly.
        let mut stream = pending.skip_features::<Element>();
        stream
            .send(&Handshake::from_stream_id_and_password(stream_id, secret))
            .await
            .map_err(|e| format!("cannot send the handshake: {e}"))?;
        let reply = next_raw(&mut stream).await?;
        if reply.name() != "handshake" {
            return Err(format!("handshake refused: {}", show(&reply)));
        }
        let mut client = Client::new(stream, NS_COMPONENT, jid);
        client.jid = jid.to_owned();
        // Pings from a component go to the domain it is attached to.
        client.domain = jid
            .split_once('.')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        Ok(client)
    }

    /// Creates `user@domain` with XEP-0077 in-band registration on an unauthenticated
    /// stream. Fails on any error reply (e.g. `<conflict/>` when the user exists).
    pub async fn register_in_band(
        addr: SocketAddr,
        domain: &str,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        let work = async {
            let (_features, stream) = open_stream(addr, NS_CLIENT, domain).await?;
            let mut client = Client::new(stream, NS_CLIENT, domain);
            let query = Element::builder("query", NS_REGISTER)
                .append(
                    Element::builder("username", NS_REGISTER)
                        .append(user)
                        .build(),
                )
                .append(
                    Element::builder("password", NS_REGISTER)
                        .append(password)
                        .build(),
                )
                .build();
            let iq = Element::builder("iq", NS_CLIENT)
                .attr(xml_ncname!("type").to_owned(), "set")
                .append(query)
                .build();
            // The account exists once the result arrives; no need to wait for a clean close.
            client.iq_result(iq, LOGIN_TIMEOUT).await.map(|_| ())
        };
        tokio::time::timeout(LOGIN_TIMEOUT, work)
            .await
            .map_err(|_| format!("in-band registration of {user}@{domain} timed out"))?
            .map_err(|e| format!("in-band registration of {user}@{domain}: {e}"))
    }

    fn new(stream: XmlStream<Io, Element>, ns: &'static str, domain: &str) -> Client {
        Client {
            stream,
            ns,
            jid: String::new(),
            domain: domain.to_owned(),
            inbox: VecDeque::new(),
            next_id: 0,
            closed: None,
            pings_answered: 0,
        }
    }

    /// The bound full JID (`user@domain/resource`), or the component's JID.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The JID without its resource.
    pub fn bare_jid(&self) -> &str {
        self.jid
            .split_once('/')
            .map_or(self.jid.as_str(), |(bare, _)| bare)
    }

    /// The namespace stanzas on this stream are in.
    pub fn ns(&self) -> &'static str {
        self.ns
    }

    /// A fresh stanza id, unique within this session.
    pub fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Sends one element (a stanza in [`Client::ns`], or anything else that is well-formed).
    pub async fn send(&mut self, stanza: Element) -> Result<(), String> {
        self.stream
            .send(&stanza)
            .await
            .map_err(|e| format!("{}: cannot send {}: {e}", self.jid, show(&stanza)))
    }

    /// Parses `xml` (one element; the stream namespace is the default) and sends it. Handy for
    /// stanzas that are well-formed but semantically wrong, which typed builders refuse.
    pub async fn send_xml(&mut self, xml: &str) -> Result<(), String> {
        let stanza = parse_in(self.ns, xml)?;
        self.send(stanza).await
    }

    /// Sends presence: `show` is `None` for plain available, else `away`, `chat`, `dnd`, `xa`
    /// (or anything else, to test bad input).
    pub async fn send_presence(
        &mut self,
        show: Option<&str>,
        status: Option<&str>,
    ) -> Result<(), String> {
        let mut presence = Element::builder("presence", self.ns);
        if let Some(show) = show {
            presence = presence.append(Element::builder("show", self.ns).append(show).build());
        }
        if let Some(status) = status {
            presence = presence.append(Element::builder("status", self.ns).append(status).build());
        }
        self.send(presence.build()).await
    }

    /// Sends a `type='chat'` message with a body.
    pub async fn send_message(&mut self, to: &str, body: &str) -> Result<(), String> {
        let id = self.fresh_id("msg");
        let message = Element::builder("message", self.ns)
            .attr(xml_ncname!("to").to_owned(), to)
            .attr(xml_ncname!("type").to_owned(), "chat")
            .attr(xml_ncname!("id").to_owned(), id)
            .append(Element::builder("body", self.ns).append(body).build())
            .build();
        self.send(message).await
    }

    /// Sends an IQ `get`/`set` with a fresh id and returns the reply with that id, whether
    /// `result` or `error`: tests of refusals need the error. Err only when no reply came.
    pub async fn iq(&mut self, mut iq: Element, timeout: Duration) -> Result<Element, String> {
        if iq.name() != "iq" || !matches!(iq.attr("type"), Some("get") | Some("set")) {
            return Err(format!("not an IQ get/set: {}", show(&iq)));
        }
        let id = self.fresh_id("iq");
        iq.set_attr(
            minidom::rxml::Namespace::NONE,
            xml_ncname!("id").to_owned(),
            id.as_str(),
        );
        let request = show(&iq);
        self.send(iq).await?;
        self.recv_matching(timeout, |e| {
            e.name() == "iq"
                && e.attr("id") == Some(id.as_str())
                && matches!(e.attr("type"), Some("result") | Some("error"))
        })
        .await
        .map_err(|e| format!("no reply to {request}: {e}"))
    }

    /// Like [`Client::iq`], but an `error` reply is an Err carrying the error stanza.
    pub async fn iq_result(&mut self, iq: Element, timeout: Duration) -> Result<Element, String> {
        let reply = self.iq(iq, timeout).await?;
        if reply.attr("type") == Some("error") {
            Err(format!("{}: IQ error reply: {}", self.jid, show(&reply)))
        } else {
            Ok(reply)
        }
    }

    /// Parses `xml` as an IQ get/set (stream namespace as default) and sends it via
    /// [`Client::iq`].
    pub async fn iq_xml(&mut self, xml: &str, timeout: Duration) -> Result<Element, String> {
        let iq = parse_in(self.ns, xml)?;
        self.iq(iq, timeout).await
    }

    /// Fetches the roster (RFC 6121 §2.2) as `(jid, subscription)` pairs. On Prosody this
    /// also subscribes the session to roster pushes.
    pub async fn roster(&mut self, timeout: Duration) -> Result<Vec<(String, String)>, String> {
        let reply = self
            .iq_xml(
                "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>",
                timeout,
            )
            .await?;
        if reply.attr("type") != Some("result") {
            return Err(format!("{}: roster get failed: {}", self.jid, show(&reply)));
        }
        Ok(reply
            .get_child("query", "jabber:iq:roster")
            .map(|q| {
                q.children()
                    .filter_map(|item| {
                        let jid = item.attr("jid")?.to_owned();
                        let sub = item.attr("subscription").unwrap_or("none").to_owned();
                        Some((jid, sub))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The next stanza: the oldest in the inbox, else the next to arrive within `timeout`.
    /// `None` on timeout or when the stream has ended (see [`Client::closed`]).
    pub async fn recv(&mut self, timeout: Duration) -> Option<Element> {
        if let Some(el) = self.inbox.pop_front() {
            return Some(el);
        }
        self.read(Instant::now() + timeout).await
    }

    /// The first stanza for which `pred` holds, searched in the inbox first, then among those
    /// arriving within `timeout`; the others stay in the inbox in order.
    pub async fn recv_matching(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Element) -> bool,
    ) -> Result<Element, String> {
        if let Some(pos) = self.inbox.iter().position(&mut pred) {
            if let Some(el) = self.inbox.remove(pos) {
                return Ok(el);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.read(deadline).await {
                Some(el) if pred(&el) => return Ok(el),
                Some(el) => self.inbox.push_back(el),
                None => {
                    let why = match &self.closed {
                        Some(reason) => format!("stream ended ({reason})"),
                        None => format!("nothing matching within {timeout:?}"),
                    };
                    return Err(format!(
                        "{}: {why}; inbox: {}",
                        self.jid,
                        self.describe_inbox()
                    ));
                }
            }
        }
    }

    /// Waits the whole of `window` and fails if a stanza matching `pred` arrives (or is
    /// already in the inbox): for "nothing is sent" assertions. Others stay in the inbox.
    pub async fn expect_none_matching(
        &mut self,
        window: Duration,
        mut pred: impl FnMut(&Element) -> bool,
    ) -> Result<(), String> {
        if let Some(el) = self.inbox.iter().find(|e| pred(e)) {
            return Err(format!(
                "{}: unexpected stanza already received: {}",
                self.jid,
                show(el)
            ));
        }
        let deadline = Instant::now() + window;
        while let Some(el) = self.read(deadline).await {
            if pred(&el) {
                return Err(format!("{}: unexpected stanza: {}", self.jid, show(&el)));
            }
            self.inbox.push_back(el);
        }
        Ok(())
    }

    /// Keeps reading in a task of its own until [`Background::back`].
    pub fn in_background(mut self) -> Background {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                if stopped.try_recv().is_ok() || self.closed.is_some() {
                    return self;
                }
                if let Some(el) = self.read(Instant::now() + Duration::from_millis(50)).await {
                    self.inbox.push_back(el);
                }
            }
        });
        Background { stop, task }
    }

    /// Pings from others this client answered.
    pub fn pings_answered(&self) -> u64 {
        self.pings_answered
    }

    /// Logs out as a well-behaved client does: unavailable presence, then the stream's end.
    pub async fn log_out(mut self) {
        let unavailable = Element::builder("presence", self.ns)
            .attr(xml_ncname!("type").to_owned(), "unavailable")
            .build();
        let _ = self.send(unavailable).await;
        self.close().await;
    }

    /// Drops the TCP connection without a word: no unavailable presence, no stream end,
    /// as when a client crashes or its network goes away.
    pub fn drop_connection(self) {
        drop(self);
    }

    /// Stanzas received and not yet consumed, oldest first.
    pub fn inbox(&self) -> &VecDeque<Element> {
        &self.inbox
    }

    /// Empties the inbox.
    pub fn take_inbox(&mut self) -> Vec<Element> {
        self.inbox.drain(..).collect()
    }

    /// Why the stream ended (server footer, stream error, I/O error), or `None` while open.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// Sends the stream footer and waits briefly for the server's, so that the server has
    /// processed the logout (unavailable presence broadcast) when this returns.
    pub async fn close(mut self) {
        if self.closed.is_some() {
            return;
        }
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.closed.is_none() {
            if self.read(deadline).await.is_none() {
                break;
            }
        }
    }

    /// Reads the next stanza from the wire until `deadline`. Answers xmlstream's soft
    /// timeout with a ping (a test client may sit idle while the component works) and drops
    /// the pongs.
    async fn read(&mut self, deadline: Instant) -> Option<Element> {
        loop {
            if self.closed.is_some() {
                return None;
            }
            // Cancel-safe: XmlStream keeps its partial parse state in itself, not in the
            // `next()` future that the timeout drops.
            let item = tokio::time::timeout_at(deadline.into(), self.stream.next()).await;
            match item {
                Err(_elapsed) => return None,
                Ok(None) => self.closed = Some("connection closed".to_owned()),
                Ok(Some(Ok(el))) => {
                    if el.name() == "iq"
                        && el.attr("id").is_some_and(|id| id.starts_with(KEEPALIVE_ID))
                    {
                        continue;
                    }
                    // Pings are answered as chat clients answer them (XEP-0199), so that
                    // whoever checks this session is still there hears so.
                    if self.ns == NS_CLIENT
                        && el.name() == "iq"
                        && el.attr("type") == Some("get")
                        && el.has_child("ping", NS_PING)
                    {
                        let mut pong = Element::builder("iq", self.ns)
                            .attr(xml_ncname!("type").to_owned(), "result")
                            .attr(xml_ncname!("id").to_owned(), el.attr("id").unwrap_or(""));
                        if let Some(from) = el.attr("from") {
                            pong = pong.attr(xml_ncname!("to").to_owned(), from);
                        }
                        if let Err(e) = self.send(pong.build()).await {
                            self.closed = Some(format!("cannot answer a ping: {e}"));
                        }
                        self.pings_answered += 1;
                        continue;
                    }
                    if el.is("error", NS_STREAM) {
                        self.closed = Some(format!("stream error: {}", show(&el)));
                    }
                    return Some(el);
                }
                Ok(Some(Err(ReadError::SoftTimeout))) => {
                    let id = self.fresh_id(KEEPALIVE_ID.trim_end_matches('-'));
                    let mut ping = Element::builder("iq", self.ns)
                        .attr(xml_ncname!("type").to_owned(), "get")
                        .attr(xml_ncname!("id").to_owned(), id)
                        .attr(xml_ncname!("to").to_owned(), self.domain.as_str());
                    // Components must say who they are; c2s sessions get stamped.
                    if self.ns == NS_COMPONENT {
                        ping = ping.attr(xml_ncname!("from").to_owned(), self.jid.as_str());
                    }
                    let ping = ping
                        .append(Element::builder("ping", NS_PING).build())
                        .build();
                    if let Err(e) = self.send(ping).await {
                        self.closed = Some(format!("keepalive failed: {e}"));
                    }
                }
                // minidom accepts any well-formed element, so this is unexpected; the stream
                // itself stays usable.
                Ok(Some(Err(ReadError::ParseError(e)))) => {
                    self.inbox.push_back(
                        Element::builder("unparsable", "urn:xmpp-game-bridge:test")
                            .append(e.to_string())
                            .build(),
                    );
                }
                Ok(Some(Err(ReadError::StreamFooterReceived))) => {
                    self.closed = Some("server closed the stream".to_owned())
                }
                Ok(Some(Err(ReadError::HardError(e)))) => {
                    self.closed = Some(format!("I/O error: {e}"))
                }
            }
        }
    }

    fn describe_inbox(&self) -> String {
        if self.inbox.is_empty() {
            return "empty".to_owned();
        }
        let items: Vec<String> = self.inbox.iter().map(show).collect();
        format!("[{}]", items.join(", "))
    }
}

fn header_to(to: &str) -> StreamHeader<'static> {
    StreamHeader {
        from: None,
        to: Some(Cow::Owned(to.to_owned())),
        id: None,
    }
}

/// TCP connect, stream header, stream features.
async fn open_stream(
    addr: SocketAddr,
    ns: &'static str,
    domain: &str,
) -> Result<(StreamFeatures, XmlStream<Io, Element>), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    // Stanzas are small and tests wait on each round trip.
    let _ = tcp.set_nodelay(true);
    let pending = initiate_stream(BufStream::new(tcp), ns, header_to(domain), timeouts())
        .await
        .map_err(|e| format!("no stream header from the server: {e}"))?;
    pending
        .recv_features::<Element>()
        .await
        .map_err(|e| format!("no stream features: {e}"))
}

/// The next element during stream negotiation, where soft timeouts are just waited out.
async fn next_raw(stream: &mut XmlStream<Io, Element>) -> Result<Element, String> {
    loop {
        match stream.next().await {
            Some(Ok(el)) => return Ok(el),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(format!("stream failed during negotiation: {e}")),
            None => return Err("connection closed during negotiation".to_owned()),
        }
    }
}

/// Parses one element of XML text with `ns` as the default namespace, as it would be on a
/// stream in that namespace.
pub fn parse_in(ns: &str, xml: &str) -> Result<Element, String> {
    let wrapped: Element = format!("<wrapper xmlns='{ns}'>{xml}</wrapper>")
        .parse()
        .map_err(|e| format!("not well-formed XML ({e}): {xml}"))?;
    let mut children = wrapped.children();
    match (children.next(), children.next()) {
        (Some(el), None) => Ok(el.clone()),
        _ => Err(format!("expected exactly one element: {xml}")),
    }
}

/// Parses one element in `jabber:client`, e.g. a stanza to send or to compare with.
pub fn xml(xml: &str) -> Result<Element, String> {
    parse_in(NS_CLIENT, xml)
}

/// An element as XML text for messages, cut at 2000 characters.
pub fn show(el: &Element) -> String {
    let mut text = String::from(el);
    if text.len() > 2000 {
        let mut cut = 2000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Makes `a` and `b` mutual contacts (subscription `both`) through the ordinary RFC 6121
/// handshake, as two chat clients would. Both must have sent initial presence: ejabberd
/// delivers subscription requests only to available users. Both fetch their roster first:
/// Prosody sends roster pushes only to sessions that did (as clients do at login), and the
/// reply also proves the server has processed the presence sent before. The subscription
/// stanzas and roster pushes of the handshake are removed from both inboxes; the contacts'
/// available presences that follow stay there.
pub async fn befriend(a: &mut Client, b: &mut Client, timeout: Duration) -> Result<(), String> {
    let a_bare = a.bare_jid().to_owned();
    let b_bare = b.bare_jid().to_owned();
    a.roster(timeout).await?;
    b.roster(timeout).await?;
    subscribe(a, b, timeout).await?;
    subscribe(b, a, timeout).await?;
    for (client, other) in [(&mut *a, b_bare.as_str()), (&mut *b, a_bare.as_str())] {
        client
            .recv_matching(timeout, |e| roster_push_for(e, other, Some("both")))
            .await
            .map_err(|e| format!("no roster push with subscription both: {e}"))?;
        client
            .inbox
            .retain(|e| !roster_push_for(e, other, None) && !subscription_presence(e, other));
    }
    Ok(())
}

/// `from` asks `to` for a subscription and `to` approves it.
async fn subscribe(from: &mut Client, to: &mut Client, timeout: Duration) -> Result<(), String> {
    let from_bare = from.bare_jid().to_owned();
    let to_bare = to.bare_jid().to_owned();
    from.send_xml(&format!("<presence to='{to_bare}' type='subscribe'/>"))
        .await?;
    to.recv_matching(timeout, |e| {
        e.name() == "presence"
            && e.attr("type") == Some("subscribe")
            && e.attr("from").is_some_and(|f| bare(f) == from_bare)
    })
    .await
    .map_err(|e| format!("subscription request from {from_bare} not delivered: {e}"))?;
    to.send_xml(&format!("<presence to='{from_bare}' type='subscribed'/>"))
        .await
}

fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// A roster push (`<iq type='set'><query xmlns='jabber:iq:roster'>`) about `jid`, with the
/// given subscription if any.
fn roster_push_for(e: &Element, jid: &str, subscription: Option<&str>) -> bool {
    e.name() == "iq"
        && e.attr("type") == Some("set")
        && e.get_child("query", "jabber:iq:roster").is_some_and(|q| {
            q.children().any(|item| {
                item.attr("jid") == Some(jid)
                    && subscription.is_none_or(|s| item.attr("subscription") == Some(s))
            })
        })
}

fn subscription_presence(e: &Element, jid: &str) -> bool {
    e.name() == "presence"
        && matches!(e.attr("type"), Some("subscribe") | Some("subscribed"))
        && e.attr("from").is_some_and(|f| bare(f) == jid)
}
