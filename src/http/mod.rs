//! The HTTP front door: every platform command as `POST /v1/<node>` with a JSON body,
//! for game servers without an XMPP stack. Off unless `[http]` is configured.
//!
//! A request goes through the core's pipeline as its ad-hoc command twin does (the
//! platform's rate bucket, who asks, the policy, consent, the disclosure record): the
//! door only reads HTTP, hands the core a [`DoorRequest`] named by the bearer's token,
//! and writes the [`DoorAnswer`] back, as JSON ([`crate::commands::render::json`]) or as
//! a problem document ([`problem`]).
//!
//! Limits, each counted in `stats` ([`HttpStats`]): at most `max_connections` open
//! connections (one more is answered 503 and closed); headers within `header_timeout`
//! (which also closes a keep-alive connection left idle that long); a body within
//! `body_timeout` (408) and `max_body_bytes` (413); an answer within `answer_timeout`
//! (504). HTTP/1.1 with keep-alive, no TLS: the operator's reverse proxy does that.

mod body;
pub mod events;
pub mod metrics;
pub mod ops;
pub mod page;
pub mod problem;
pub mod request;
pub mod webhook;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tracing::{debug, info, warn};

use crate::core::{DoorAnswer, DoorRequest, Format, Input};
use crate::failure::Failure;
use crate::health::HttpStats;
use body::Body;

/// Where the event stream is read.
pub const EVENTS: &str = crate::commands::doc::EVENTS_PATH;

/// The door's name, in requests and in the registry's doors.
pub const DOOR: &str = "http";

/// Time an answer may take beyond the IQ timeout (a request may wait for a roster, then
/// for the database).
pub const ANSWER_SLACK: Duration = Duration::from_secs(15);

/// How long the refusal of a connection over the cap may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The largest request head read (request line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Where users reach the listener (through the reverse proxy): the privacy page's
    /// links start with it.
    pub public_url: String,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// How long a request waits for the core's answer.
    pub answer_timeout: Duration,
    /// Hosts webhooks may reach over plain HTTP and at non-public addresses.
    pub webhook_allow: Vec<String>,
}

impl HttpConfig {
    /// The defaults, listening on `listen`.
    pub fn defaults(listen: SocketAddr) -> HttpConfig {
        HttpConfig {
            listen,
            public_url: format!("http://{listen}"),
            max_body_bytes: 64 * 1024,
            max_connections: 1024,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(15),
            answer_timeout: Duration::from_secs(30) + ANSWER_SLACK,
            webhook_allow: Vec::new(),
        }
    }
}

/// Requests waiting for the core's answer, by id: at most one per open connection
/// (HTTP/1.1 answers a connection's requests in turn).
#[derive(Default)]
pub struct Waiting(Mutex<HashMap<u64, oneshot::Sender<DoorAnswer>>>);

impl Waiting {
    /// Hands the core's answer to the request waiting for it; one nobody waits for any
    /// more (its client left, or it timed out) is dropped.
    pub fn deliver(&self, answer: DoorAnswer) {
        let waiter = self
            .0
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&answer.id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(answer);
        }
    }

    fn wait(&self, id: u64) -> oneshot::Receiver<DoorAnswer> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, tx);
        }
        rx
    }

    fn forget(&self, id: u64) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&id);
        }
    }
}

/// What the door is linked to.
pub struct Links {
    /// The core's input; weak, so that the core stops once the link is gone.
    pub events: mpsc::WeakSender<Vec<Input>>,
    /// Requests waiting for the core's answers, which the core's thread hands over.
    pub waiting: Arc<Waiting>,
    pub stats: Arc<HttpStats>,
    /// The news outbox (for the event stream), on its own connection.
    pub news: Arc<webhook::Shared>,
    /// The privacy pages.
    pub pages: Option<Arc<page::Pages>>,
}

/// What every connection's requests share.
struct Door {
    config: HttpConfig,
    links: Links,
    tokens: events::Tokens,
    next_id: AtomicU64,
    /// The OpenAPI document, served as it is.
    openapi: Bytes,
    /// Requests for the core, which [`forward`] hands over in batches.
    requests: mpsc::Sender<DoorRequest>,
}

/// Requests for the core handed over at once, at most.
const BATCH: usize = 256;

/// Hands the requests to the core, as many at once as are waiting: one wake-up of the
/// core for many requests, as one read from the chat server brings many stanzas.
async fn forward(mut requests: mpsc::Receiver<DoorRequest>, events: mpsc::WeakSender<Vec<Input>>) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![Input::Request(Box::new(first))];
        while batch.len() < BATCH {
            match requests.try_recv() {
                Ok(more) => batch.push(Input::Request(Box::new(more))),
                Err(_) => break,
            }
        }
        // A request the core never sees times out, refused in words.
        let Some(events) = events.upgrade() else {
            return;
        };
        if events.send(batch).await.is_err() {
            return;
        }
    }
}

/// Binds the listener: an error here stops the start, with the address in the message.
pub async fn bind(config: &HttpConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.listen).await
}

/// Serves the door on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    config: HttpConfig,
    links: Links,
    mut shutdown: watch::Receiver<bool>,
) {
    links.stats.listening.store(true, Ordering::Relaxed);
    info!(address = %config.listen, "HTTP front door listening");
    let slots = Arc::new(Semaphore::new(config.max_connections));
    // At most one request of each connection waits here.
    let (requests, waiting_requests) = mpsc::channel(config.max_connections.max(1));
    tokio::spawn(forward(waiting_requests, links.events.clone()));
    let door = Arc::new(Door {
        requests,
        config,
        links,
        tokens: events::Tokens::default(),
        next_id: AtomicU64::new(1),
        openapi: Bytes::from(
            serde_json::to_vec(&crate::commands::doc::openapi()).unwrap_or_default(),
        ),
    });
    while let Some((stream, peer)) = accept(&listener, &mut shutdown).await {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            HttpStats::add(&door.links.stats.connections_refused);
            tokio::spawn(refuse_connection(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let door = door.clone();
        tokio::spawn(async move {
            door.links
                .stats
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            let service = hyper::service::service_fn(|request| {
                let door = door.clone();
                async move { Ok::<_, Infallible>(door.handle(request).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(door.config.header_timeout)
                .max_buf_size(MAX_HEAD_BYTES.max(8192))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!(%peer, error = %e, "HTTP connection ended");
            }
            door.links
                .stats
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    door.links.stats.listening.store(false, Ordering::Relaxed);
    info!("HTTP front door closed");
}

/// The next connection, or `None` at shutdown. A failed accept (out of file
/// descriptors, say) is logged and waited out a little rather than spun on.
pub(crate) async fn accept(
    listener: &TcpListener,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return None,
        };
        match accepted {
            Ok(accepted) => return Some(accepted),
            Err(e) => {
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a connection over the cap why it is closed.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    let refusal = problem::connection_refused();
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        let _ = stream.write_all(&refusal).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

impl Door {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        HttpStats::add(&self.links.stats.requests);
        let response = match self.answer(request).await {
            Ok(response) => response,
            Err(refusal) => problem::response(refusal.status, &refusal.failure),
        };
        let counter = match response.status().as_u16() {
            200..=299 => &self.links.stats.answered,
            400..=499 => &self.links.stats.refused,
            _ => &self.links.stats.failed,
        };
        HttpStats::add(counter);
        response
    }

    async fn answer(&self, request: Request<Incoming>) -> Result<Response<Body>, Refusal> {
        if page::serves(request.uri().path()) {
            return Ok(self.privacy(request).await);
        }
        if request.uri().path() == EVENTS {
            return self.events(&request).await;
        }
        if request.uri().path() == crate::commands::doc::OPENAPI_PATH {
            let mut response = Response::new(Body::whole(self.openapi.clone()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Ok(response);
        }
        let Some(node) = request::node(request.uri().path()).map(str::to_owned) else {
            return Err(Failure::item_not_found(format!(
                "there is nothing here; commands are at {}<command>, such as {}peers",
                request::PREFIX,
                request::PREFIX
            ))
            .into());
        };
        if request.method() != Method::POST {
            let failure =
                Failure::not_allowed("a command is run with POST, its fields in a JSON object");
            let mut response = problem::response(StatusCode::METHOD_NOT_ALLOWED, &failure);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return Ok(response);
        }
        let token = request::bearer(
            request
                .headers()
                .get(AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        );
        let body = self.body(request).await?;
        let form = request::form(&body)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let asked = DoorRequest {
            door: DOOR,
            id,
            from: None,
            token,
            node,
            form,
            format: Format::Json,
        };
        let answer = self.ask(asked).await?;
        let answered = answer.result?;
        let mut response = Response::new(Body::whole(answered.body));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    /// `GET /v1/events`: the platform's event stream.
    async fn events(&self, request: &Request<Incoming>) -> Result<Response<Body>, Refusal> {
        if request.method() != Method::GET {
            let failure = Failure::not_allowed("the event stream is read with GET");
            let mut response = problem::response(StatusCode::METHOD_NOT_ALLOWED, &failure);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return Ok(response);
        }
        let headers = request.headers();
        let token = request::bearer(headers.get(AUTHORIZATION).map(HeaderValue::as_bytes));
        let platform = self
            .tokens
            .platform(&self.links.news, token.as_deref())
            .await?;
        let after = events::last_event_id(headers.get("last-event-id").map(HeaderValue::as_bytes))?;
        Ok(events::open(self.links.news.clone(), platform, after).await?)
    }

    /// The body, within its size and time.
    async fn body(&self, request: Request<Incoming>) -> Result<Bytes, Refusal> {
        let max = self.config.max_body_bytes;
        let too_large = || {
            HttpStats::add(&self.links.stats.bodies_too_large);
            Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                failure: Failure::policy_violation(format!(
                    "the body is larger than the bridge reads ({} KiB)",
                    max / 1024
                )),
            }
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return Err(too_large());
        }
        let limited = http_body_util::Limited::new(request.into_body(), max);
        match tokio::time::timeout(self.config.body_timeout, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Ok(Err(e)) => Err(Failure::bad_request(format!(
                "the body could not be read: {}",
                crate::failure::quote(&e.to_string())
            ))
            .into()),
            Err(_) => {
                HttpStats::add(&self.links.stats.slow_bodies);
                Err(Refusal {
                    status: StatusCode::REQUEST_TIMEOUT,
                    failure: Failure::bad_request(format!(
                        "the body did not come within {} s",
                        self.config.body_timeout.as_secs()
                    )),
                })
            }
        }
    }

    /// Hands `request` to the core and waits for its answer.
    async fn ask(&self, request: DoorRequest) -> Result<DoorAnswer, Failure> {
        let unavailable = || Failure::service_unavailable("the bridge is stopping");
        let id = request.id;
        let answer = self.links.waiting.wait(id);
        // Forgotten however this ends: answered, timed out, or the client gone (this
        // future dropped).
        let _waiting = Waited {
            waiting: &self.links.waiting,
            id,
            _gauge: Gauge::up(&self.links.stats.waiting),
        };
        if self.requests.send(request).await.is_err() {
            return Err(unavailable());
        }
        match tokio::time::timeout(self.config.answer_timeout, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(unavailable()),
            Err(_) => Err(Failure::remote_timeout(
                "the bridge did not answer in time; try again",
            )),
        }
    }
}

/// A request refused: its status, and why in the words of the XMPP door.
struct Refusal {
    status: StatusCode,
    failure: Failure,
}

impl From<Failure> for Refusal {
    /// The status the condition maps to.
    fn from(failure: Failure) -> Refusal {
        Refusal {
            status: problem::status(&failure),
            failure,
        }
    }
}

/// A request's place among those waiting for the core, given up when dropped.
struct Waited<'a> {
    waiting: &'a Waiting,
    id: u64,
    _gauge: Gauge<'a>,
}

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        self.waiting.forget(self.id);
    }
}

/// One up on a gauge while it lives.
pub(crate) struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    pub(crate) fn up(gauge: &'a AtomicU64) -> Gauge<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Gauge(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
