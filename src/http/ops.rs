//! The operator's listener (`[metrics]`): `/metrics` for Prometheus, `/healthz` and
//! `/readyz` for the service manager, a load balancer or a probe. Plain HTTP on its own
//! address, apart from the platforms' front door, so that it can stay on loopback or a
//! monitoring network whatever the door does.
//!
//! `/healthz` answers from the runtime alone: 200 while the process serves HTTP.
//! `/readyz` and `/metrics` ask the core for its [`Snapshot`] (an [`Input::Look`]); a
//! core that does not answer within [`LOOK_TIMEOUT`] makes them 503, which is what a
//! stuck core should look like from outside.
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections (one more is closed at once and
//! counted, `stats`: ops-connections-refused); a request's head within 10 s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tracing::{debug, info};

use super::body::Body;
use crate::core::Input;
use crate::health::{Histograms, HttpStats, Look, Snapshot};

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsConfig {
    pub listen: SocketAddr,
}

/// How long `/metrics` and `/readyz` wait for the core.
pub const LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections open at once, at most: scrapers and probes are few.
pub const MAX_CONNECTIONS: usize = 64;

const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the core for its snapshot through `events`; `None` if the core is gone or did
/// not answer within `timeout`.
pub async fn look(events: &mpsc::WeakSender<Vec<Input>>, timeout: Duration) -> Option<Snapshot> {
    let events = events.upgrade()?;
    let (tx, rx) = oneshot::channel();
    let asked = async {
        events
            .send(vec![Input::Look(Look::new(move |snapshot| {
                let _ = tx.send(snapshot);
            }))])
            .await
            .ok()?;
        drop(events);
        rx.await.ok()
    };
    tokio::time::timeout(timeout, asked).await.ok().flatten()
}

/// What the operator's listener answers with.
pub struct Ops {
    /// The core's input; weak, so that the core stops once the link is gone.
    events: mpsc::WeakSender<Vec<Input>>,
    histograms: Arc<Histograms>,
    stats: Arc<HttpStats>,
    /// Whether the bridge serves, or waits as a standby.
    role: Arc<crate::health::Role>,
    /// The core's last snapshot and when it was taken: requests within [`FRESH`] of it
    /// share it, and those that come meanwhile wait for the one look under way, so that
    /// however many ask, the core is asked at most once per [`FRESH`].
    recent: tokio::sync::Mutex<Option<(tokio::time::Instant, Arc<Snapshot>)>>,
}

/// How long a snapshot of the core answers `/metrics` and `/readyz`.
const FRESH: Duration = Duration::from_secs(1);

impl Ops {
    pub fn new(
        events: mpsc::WeakSender<Vec<Input>>,
        histograms: Arc<Histograms>,
        stats: Arc<HttpStats>,
        role: Arc<crate::health::Role>,
    ) -> Ops {
        Ops {
            events,
            histograms,
            stats,
            role,
            recent: tokio::sync::Mutex::new(None),
        }
    }

    /// A snapshot of the core at most [`FRESH`] old, if the core answers.
    async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let mut recent = self.recent.lock().await;
        if let Some((at, snapshot)) = recent.as_ref() {
            if at.elapsed() < FRESH {
                return Some(snapshot.clone());
            }
        }
        let snapshot = Arc::new(look(&self.events, LOOK_TIMEOUT).await?);
        *recent = Some((tokio::time::Instant::now(), snapshot.clone()));
        Some(snapshot)
    }
}

/// Serves the operator's endpoints on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, ops: Ops, mut shutdown: watch::Receiver<bool>) {
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    info!(%address, "metrics and health listening (/metrics, /healthz, /readyz)");
    ops.stats.ops_listening.store(true, Ordering::Relaxed);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let ops = Arc::new(ops);
    while let Some((stream, peer)) = super::accept(&listener, &mut shutdown).await {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            HttpStats::add(&ops.stats.ops_connections_refused);
            drop(stream);
            continue;
        };
        let ops = ops.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request| {
                let ops = ops.clone();
                async move { Ok::<_, Infallible>(ops.handle(request).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!(%peer, error = %e, "metrics connection ended");
            }
            drop(slot);
        });
    }
    ops.stats.ops_listening.store(false, Ordering::Relaxed);
}

impl Ops {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        HttpStats::add(&self.stats.ops_requests);
        let path = request.uri().path();
        if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
            return plain(
                StatusCode::NOT_FOUND,
                "nothing here; try /metrics, /healthz or /readyz\n".to_owned(),
            );
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "read it with GET\n".to_owned(),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        if path == "/healthz" {
            return plain(StatusCode::OK, "ok\n".to_owned());
        }
        if let Some(holder) = self.role.waiting_for() {
            let openmetrics = super::metrics::wants_openmetrics(
                request.headers().get(ACCEPT).map(HeaderValue::as_bytes),
            );
            return match path {
                "/metrics" => metrics_response(super::metrics::standby(openmetrics), openmetrics),
                _ if holder.is_empty() => plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: starting (opening the database, looking at the lease)\n".to_owned(),
                ),
                _ => plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("standby: another bridge holds the lease ({holder}); this one takes over when it lapses\n"),
                ),
            };
        }
        let Some(snapshot) = self.snapshot().await else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not ready: the bridge's core did not answer within {} s\n",
                    LOOK_TIMEOUT.as_secs()
                ),
            );
        };
        if path == "/readyz" {
            return if snapshot.unready.is_empty() {
                plain(StatusCode::OK, "ready\n".to_owned())
            } else {
                let mut text = String::from("not ready:\n");
                for why in &snapshot.unready {
                    text.push_str("- ");
                    text.push_str(why);
                    text.push('\n');
                }
                plain(StatusCode::SERVICE_UNAVAILABLE, text)
            };
        }
        let openmetrics = super::metrics::wants_openmetrics(
            request.headers().get(ACCEPT).map(HeaderValue::as_bytes),
        );
        let text = super::metrics::render(&snapshot, &self.histograms, openmetrics);
        metrics_response(text, openmetrics)
    }
}

fn metrics_response(text: String, openmetrics: bool) -> Response<Body> {
    let mut response = Response::new(Body::whole(text));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if openmetrics {
            super::metrics::OPENMETRICS
        } else {
            super::metrics::TEXT
        }),
    );
    response
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::whole(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
