//! The link to the server: XEP-0114 (Jabber Component Protocol) over TCP.
//!
//! Built on tokio-xmpp's low-level `xmlstream` API rather than its `Component` type,
//! because `Component` ends the stream on the first stanza xmpp-parsers rejects and on
//! every read soft-timeout. Here the stream is typed as plain [`Element`]s: any
//! well-formed stanza reaches the core, which answers or drops it; only the server closing
//! the stream, a socket error or a dead link (no answer to a keepalive) ends a connection.
//!
//! Responsibilities: connect and authenticate (§3, the SHA-1 handshake), keep the link
//! alive (an XEP-0199 ping to the server after `keepalive` of silence, the link declared
//! dead if nothing arrives within `response_timeout`), reconnect with capped exponential
//! backoff and jitter, tell the core of every link change, and close the stream cleanly at
//! shutdown after sending what the core still had to say.
//!
//! XEP-0114 is unencrypted: the link belongs on loopback or a private network.

pub mod backoff;
pub mod reader;

use std::borrow::Cow;
use std::io;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use minidom::rxml::xml_ncname;
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_xmpp::xmlstream::{initiate_stream, ReadError, StreamHeader, Timeouts, XmlStream};
use tracing::{debug, info, trace, warn};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use crate::config::Secret;
use crate::core::Input;
use backoff::{random_u64, Backoff};
use reader::Incoming;

/// Ids of keepalive pings start with this; their replies stay in the transport.
const KEEPALIVE_PREFIX: &str = "keepalive-";

/// A link that stayed up this long resets the backoff.
const STABLE_LINK: Duration = Duration::from_secs(30);

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
}

/// Problems that reconnecting cannot fix: the operator must change a configuration.
#[derive(Debug, thiserror::Error)]
pub enum FatalLinkError {
    #[error(
        "the server at {addr} rejected the component's secret for {component}: check that the file or variable named by server.secret_file/secret_env holds exactly the server's secret for this component (Prosody: component_secret in the Component block; ejabberd: password under ejabberd_service hosts)"
    )]
    SecretRejected { addr: String, component: BareJid },
    #[error(
        "the server at {addr} does not know the component {component}: add it to the server's configuration (Prosody: a Component \"{component}\" block; ejabberd: {component} under the ejabberd_service listener's hosts), or fix component.jid"
    )]
    UnknownComponent { addr: String, component: BareJid },
}

type Stream = XmlStream<BufStream<TcpStream>, Incoming>;

/// Why one connection attempt or one connection ended.
#[derive(Debug)]
enum Ended {
    /// Shutdown was asked for and the stream was closed.
    Shutdown,
    /// The link is gone; reconnect.
    Lost(String),
    /// Do not reconnect.
    Fatal(FatalLinkError),
}

/// Runs the link until shutdown: connects, serves, reconnects.
///
/// `events` receives every [`Input`] for the core except ticks; it is dropped as soon as
/// shutdown is asked for, which tells the core that no more input will come. `outgoing`
/// carries the core's stanzas; when it closes (the core is done), the stream is closed.
pub async fn run(
    settings: LinkSettings,
    events: Sender<Input>,
    mut outgoing: mpsc::UnboundedReceiver<Element>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), FatalLinkError> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let mut backoff = Backoff::new(settings.reconnect_initial, settings.reconnect_max);
    let mut events = Some(events);
    loop {
        if *shutdown.borrow() {
            break;
        }
        info!(%addr, component = %settings.component, "connecting to the server");
        let attempt = tokio::select! {
            result = connect(&settings, &addr) => result,
            _ = shutdown.changed() => break,
        };
        match attempt {
            Ok(stream) => {
                info!(%addr, component = %settings.component, "link up");
                let up_at = Instant::now();
                send_event(&mut events, Input::Connected);
                let ended =
                    serve(stream, &settings, &mut events, &mut outgoing, &mut shutdown).await;
                if up_at.elapsed() >= STABLE_LINK {
                    backoff.reset();
                }
                match ended {
                    Ended::Shutdown => return Ok(()),
                    Ended::Fatal(e) => return Err(e),
                    Ended::Lost(reason) => {
                        warn!(%reason, "link down");
                        send_event(&mut events, Input::Disconnected { reason });
                    }
                }
            }
            Err(Ended::Fatal(e)) => return Err(e),
            Err(Ended::Shutdown) => break,
            // The core already knows the link is down; only the log hears of each attempt.
            Err(Ended::Lost(reason)) => warn!(%reason, "cannot connect"),
        }
        let delay = backoff.next_delay(random_u64());
        info!(
            attempt = backoff.attempts(),
            delay_ms = delay.as_millis() as u64,
            "reconnecting after a delay"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Shut down while the link is down: nobody to say goodbye to. Drain what the core
    // still produces so it can finish, then stop.
    drop(events);
    let mut discarded = 0usize;
    while outgoing.recv().await.is_some() {
        discarded += 1;
    }
    if discarded > 0 {
        warn!(discarded, "stanzas not sent: the link was down at shutdown");
    }
    Ok(())
}

fn send_event(events: &mut Option<Sender<Input>>, input: Input) {
    if let Some(tx) = events {
        if tx.send(input).is_err() {
            // The core is gone (it only stops at shutdown); nothing left to tell.
            *events = None;
        }
    }
}

/// TCP connect, stream header, handshake.
async fn connect(settings: &LinkSettings, addr: &str) -> Result<Stream, Ended> {
    let lost = |what: &str, e: &dyn std::fmt::Display| Ended::Lost(format!("{what}: {e}"));
    let deadline = settings.response_timeout;
    let tcp = tokio::time::timeout(
        deadline,
        TcpStream::connect((settings.host.as_str(), settings.port)),
    )
    .await
    .map_err(|e| lost("connecting timed out", &e))?
    .map_err(|e| lost("cannot connect", &e))?;
    // Small stanzas, latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    let timeouts = Timeouts {
        read_timeout: settings.keepalive,
        response_timeout: settings.response_timeout,
    };
    let header = StreamHeader {
        to: Some(Cow::Owned(settings.component.to_string())),
        from: None,
        id: None,
    };
    let mut pending = tokio::time::timeout(
        deadline,
        initiate_stream(BufStream::new(tcp), ns::COMPONENT_ACCEPT, header, timeouts),
    )
    .await
    .map_err(|e| lost("no stream header from the server", &e))?
    .map_err(|e| lost("stream setup failed", &e))?;
    let stream_id = pending
        .take_header()
        .id
        .map(Cow::into_owned)
        .ok_or_else(|| Ended::Lost("the server's stream header has no id".to_owned()))?;
    let mut stream: Stream = pending.skip_features();
    let handshake = Handshake::from_stream_id_and_password(stream_id, settings.secret.expose());
    let handshake: Element = handshake.into();
    stream
        .send(&handshake)
        .await
        .map_err(|e| lost("cannot send the handshake", &e))?;
    let reply = tokio::time::timeout(deadline, next_element(&mut stream))
        .await
        .map_err(|e| lost("no answer to the handshake", &e))??;
    if reply.is("handshake", ns::COMPONENT_ACCEPT) {
        return Ok(stream);
    }
    if reply.is("error", ns::STREAM) {
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
        reply.name()
    )))
}

/// The next element, sitting out soft timeouts (nothing to keep alive before the handshake).
async fn next_element(stream: &mut Stream) -> Result<Element, Ended> {
    loop {
        match stream.next().await {
            Some(Ok(Incoming(el))) => return Ok(el),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(Ended::Lost(read_error_reason(&e))),
            None => return Err(Ended::Lost("the server closed the connection".to_owned())),
        }
    }
}

fn read_error_reason(e: &ReadError) -> String {
    match e {
        ReadError::StreamFooterReceived => "the server closed the stream".to_owned(),
        ReadError::HardError(e) if e.kind() == io::ErrorKind::TimedOut => {
            "no answer to the keepalive: the link is dead".to_owned()
        }
        ReadError::HardError(e) => format!("connection lost ({e})"),
        other => other.to_string(),
    }
}

/// `<stream:error><not-authorized/>...</stream:error>` → "not-authorized".
fn stream_error_condition(el: &Element) -> String {
    el.children()
        .find(|c| c.ns() == ns::XMPP_STREAMS)
        .filter(|c| c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".to_owned())
}

/// Moves stanzas both ways until the link is lost or shutdown completes.
async fn serve(
    mut stream: Stream,
    settings: &LinkSettings,
    events: &mut Option<Sender<Input>>,
    outgoing: &mut mpsc::UnboundedReceiver<Element>,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended {
    let mut keepalives = 0u64;
    let mut reading = !*shutdown.borrow();
    if !reading {
        *events = None;
    }
    loop {
        tokio::select! {
            biased;
            changed = shutdown.changed(), if reading => {
                if changed.is_err() || *shutdown.borrow() {
                    // Stop reading; the core finishes what it has and closes `outgoing`.
                    info!("shutting down: no longer reading from the server");
                    reading = false;
                    *events = None;
                }
            }
            out = outgoing.recv() => match out {
                Some(el) => {
                    trace!(xml = %String::from(&el), "send");
                    if let Err(reason) = send(&mut stream, &el, settings.response_timeout).await {
                        return Ended::Lost(reason);
                    }
                }
                None => {
                    // The core is done: close our side and give the server a moment to
                    // close its own, so nothing in flight is cut off.
                    let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) = stream.next().await {}
                    })
                    .await;
                    info!("stream closed");
                    return Ended::Shutdown;
                }
            },
            item = stream.next(), if reading => match item {
                Some(Ok(Incoming(el))) => {
                    trace!(xml = %String::from(&el), "recv");
                    if is_keepalive_reply(&el) {
                        continue;
                    }
                    if el.is("error", ns::STREAM) {
                        return Ended::Lost(format!("stream error from the server: {}", stream_error_condition(&el)));
                    }
                    send_event(events, Input::Stanza(el));
                }
                Some(Err(ReadError::SoftTimeout)) => {
                    keepalives += 1;
                    let ping = keepalive_ping(settings, keepalives);
                    debug!("link silent: sending a keepalive ping");
                    if let Err(reason) = send(&mut stream, &ping, settings.response_timeout).await {
                        return Ended::Lost(reason);
                    }
                }
                Some(Err(ReadError::ParseError(e))) => {
                    // The element was well-formed XML the parser could not build; the
                    // stream itself is intact, so carry on.
                    warn!(error = %e, "dropped an element that could not be parsed");
                }
                Some(Err(e)) => return Ended::Lost(read_error_reason(&e)),
                None => return Ended::Lost("the server closed the connection".to_owned()),
            },
        }
    }
}

/// Sends one stanza. A server that stops reading (its socket open, its window closed)
/// would otherwise block the link forever, unseen by the read-side keepalive.
async fn send(stream: &mut Stream, el: &Element, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, stream.send(el)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot send: {e}")),
        Err(_) => Err(format!(
            "the server has not taken a stanza for {} s: the link is stuck",
            limit.as_secs()
        )),
    }
}

fn keepalive_ping(settings: &LinkSettings, n: u64) -> Element {
    Element::builder("iq", ns::COMPONENT_ACCEPT)
        .attr(xml_ncname!("type").into(), "get")
        .attr(xml_ncname!("id").into(), format!("{KEEPALIVE_PREFIX}{n}"))
        .attr(xml_ncname!("from").into(), settings.component.to_string())
        .attr(xml_ncname!("to").into(), settings.keepalive_to.to_string())
        .append(Element::builder("ping", ns::PING).build())
        .build()
}

/// A reply (result or error: both prove the link is alive) to one of our keepalives.
fn is_keepalive_reply(el: &Element) -> bool {
    el.is("iq", ns::COMPONENT_ACCEPT)
        && matches!(el.attr("type"), Some("result") | Some("error"))
        && el
            .attr("id")
            .is_some_and(|id| id.starts_with(KEEPALIVE_PREFIX))
}

#[cfg(test)]
mod tests;
