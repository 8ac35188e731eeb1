//! Delivering the news outbox to the platforms' webhooks.
//!
//! One worker per platform with a webhook, each on its own database connection's
//! shared handle, delivers that platform's events in id order (so one invite's events
//! arrive in the order they happened), one at a time on a kept-alive connection:
//!
//! - signed as [`crate::news::signature`] says, `webhook-id` being the event's id;
//! - a 2xx answer is delivery; anything else, a refused connection or no answer within
//!   [`ATTEMPT_TIMEOUT`] is a failed attempt, tried again after an exponential backoff
//!   with jitter (2 s, 4 s, … at most [`MAX_BACKOFF`]) until the event is
//!   [`RETRY_FOR`] old, then given up (`platform deliveries` shows each);
//! - a redirect is not followed; a response's body is read to [`MAX_RESPONSE_BYTES`] and
//!   dropped;
//! - where the URL may point is checked before each connection
//!   ([`crate::news::target`]).
//!
//! Deliveries are marked in the database after they are taken, in batches: an event
//! taken just before the bridge was killed is delivered again, with the same id, so a
//! receiver keeps the ids it took (at least once; duplicates are identifiable).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::directory::unix_secs;
use crate::health::HttpStats;
use crate::news::{signature, target::Target};
use crate::store::{NewsRecord, Store, Webhook};

/// How long an event is tried before it is given up.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Connecting, sending and reading the answer, at most.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a response's body read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Events read from the outbox at once.
const BATCH: usize = 256;
/// Deliveries marked in the database at once.
const MARK_EVERY: usize = 64;
/// How often the list of webhooks is read again (the CLI may change it).
const HOOKS_EVERY: Duration = Duration::from_secs(2);
/// How often old news are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long news are kept (for the event stream, and for the operator).
pub const KEEP_NEWS: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most events kept per platform; past it the oldest go.
pub const MAX_NEWS_PER_PLATFORM: usize = 100_000;

/// What every worker shares.
pub struct Shared {
    pub store: Arc<Mutex<Store>>,
    /// Hosts allowed plain HTTP and non-public addresses (`http.webhook_allow`).
    pub allow: Vec<String>,
    pub stats: Arc<HttpStats>,
    /// Where each attempt's time is observed, by outcome.
    pub histograms: Arc<crate::health::Histograms>,
    /// Bumped when the core wrote news.
    pub wake: watch::Receiver<u64>,
}

impl Shared {
    /// `f` on the database, on a thread where it may block (PostgreSQL's client does):
    /// the runtime carries the link meanwhile. `None` if another worker panicked holding
    /// the database.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Option<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().ok()?;
            Some(f(&mut store))
        })
        .await
        .ok()
        .flatten()
    }
}

/// Runs the workers until `shutdown`.
pub async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let tls = tls_connector();
    let mut workers: HashMap<String, (Webhook, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut pruned_at = SystemTime::UNIX_EPOCH;
    loop {
        let hooks = shared.with_store(|s| s.webhooks()).await;
        match hooks {
            Some(Ok(hooks)) => {
                workers.retain(|platform, (hook, task)| {
                    let same = hooks.iter().any(|h| h == hook);
                    if !same {
                        debug!(%platform, "webhook changed or removed; its worker stops");
                        task.abort();
                    }
                    same
                });
                for hook in hooks {
                    if workers.contains_key(&hook.platform) {
                        continue;
                    }
                    let worker = Worker {
                        shared: shared.clone(),
                        hook: hook.clone(),
                        tls: tls.clone(),
                        conn: None,
                    };
                    // Only the host: a URL's path or query may hold a secret of the receiver's.
                    let host = Target::parse(&hook.url).map_or_else(|e| e, |t| t.host);
                    info!(platform = %hook.platform, %host, "delivering news to a webhook");
                    workers.insert(hook.platform.clone(), (hook, tokio::spawn(worker.run())));
                }
            }
            Some(Err(e)) => warn!(error = %e, "cannot read the webhooks"),
            None => return,
        }
        let now = SystemTime::now();
        if now.duration_since(pruned_at).unwrap_or(PRUNE_EVERY) >= PRUNE_EVERY {
            pruned_at = now;
            prune(&shared, now).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(HOOKS_EVERY) => {}
            _ = shutdown.changed() => break,
        }
    }
    for (_, (_, task)) in workers {
        task.abort();
    }
}

async fn prune(shared: &Shared, now: SystemTime) {
    let before = unix_secs(now).saturating_sub(KEEP_NEWS.as_secs() as u32);
    let pruned = shared
        .with_store(move |s| s.prune_news(before, MAX_NEWS_PER_PLATFORM))
        .await;
    match pruned {
        Some(Ok(n)) => {
            shared
                .stats
                .news_pruned
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Some(Err(e)) => warn!(error = %e, "cannot prune old news"),
        None => {}
    }
}

/// Any stream a request can go over: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One platform's deliveries.
struct Worker {
    shared: Arc<Shared>,
    hook: Webhook,
    tls: Option<tokio_rustls::TlsConnector>,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Worker {
    async fn run(mut self) {
        let mut wake = self.shared.wake.clone();
        loop {
            let next = self.deliver_owed().await;
            let wait = match next {
                Pass::More => continue,
                Pass::Until(at) => {
                    Duration::from_secs(u64::from(at.saturating_sub(unix_secs(SystemTime::now()))))
                        .max(Duration::from_millis(100))
                }
                Pass::Idle => Duration::from_secs(30),
            };
            tokio::select! {
                changed = wake.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Delivers what is owed and due, in order; what to do next.
    async fn deliver_owed(&mut self) -> Pass {
        let platform = self.hook.platform.clone();
        let owed = self
            .shared
            .with_store(move |s| s.news_owed(&platform, BATCH))
            .await;
        let owed = match owed {
            Some(Ok(owed)) => owed,
            Some(Err(e)) => {
                warn!(error = %e, "cannot read the news outbox");
                return Pass::Until(unix_secs(SystemTime::now()) + 5);
            }
            None => return Pass::Until(u32::MAX),
        };
        let full = owed.len() == BATCH;
        let mut delivered = Vec::new();
        let mut pass = if full { Pass::More } else { Pass::Idle };
        for event in owed {
            let now = unix_secs(SystemTime::now());
            if u64::from(now.saturating_sub(event.at)) > RETRY_FOR.as_secs() {
                self.mark(&mut delivered).await;
                self.failed(&event, now, "not delivered within 24 hours; given up", true)
                    .await;
                continue;
            }
            if event.next_at > now {
                pass = Pass::Until(event.next_at);
                break;
            }
            let started = std::time::Instant::now();
            let posted = self.post(&event).await;
            let histograms = &self.shared.histograms;
            match &posted {
                Ok(()) => &histograms.webhook_delivered,
                Err(_) => &histograms.webhook_failed,
            }
            .observe_time(started.elapsed());
            match posted {
                Ok(()) => {
                    HttpStats::add(&self.shared.stats.webhook_delivered);
                    delivered.push(event.id);
                    if delivered.len() >= MARK_EVERY {
                        self.mark(&mut delivered).await;
                    }
                }
                Err(error) => {
                    self.conn = None;
                    self.mark(&mut delivered).await;
                    let next = self.failed(&event, now, &error, false).await;
                    pass = Pass::Until(next);
                    break;
                }
            }
        }
        self.mark(&mut delivered).await;
        pass
    }

    async fn mark(&self, delivered: &mut Vec<i64>) {
        if delivered.is_empty() {
            return;
        }
        let now = unix_secs(SystemTime::now());
        let ids = std::mem::take(delivered);
        let marked = self
            .shared
            .with_store(move |s| s.news_delivered(&ids, now))
            .await;
        if let Some(Err(e)) = marked {
            // Delivered again later, with the same ids.
            warn!(error = %e, "cannot record webhook deliveries");
        }
        delivered.clear();
    }

    /// Records a failed attempt; when the next is due.
    async fn failed(&self, event: &NewsRecord, now: u32, error: &str, give_up: bool) -> u32 {
        let next = now.saturating_add(backoff(event.attempts + 1).as_secs() as u32);
        if give_up {
            HttpStats::add(&self.shared.stats.webhook_given_up);
            warn!(platform = %self.hook.platform, event = event.id, "a webhook event was given up after 24 hours of attempts");
        } else {
            HttpStats::add(&self.shared.stats.webhook_attempts_failed);
            warn!(platform = %self.hook.platform, event = event.id, attempt = event.attempts + 1, %error, "webhook delivery failed; tried again later");
        }
        let error = crate::failure::quote(error);
        let id = event.id;
        let recorded = self
            .shared
            .with_store(move |s| s.news_attempt_failed(id, (now, next), &error, give_up))
            .await;
        if let Some(Err(e)) = recorded {
            warn!(error = %e, "cannot record a failed webhook delivery");
        }
        next
    }

    /// One delivery attempt.
    async fn post(&mut self, event: &NewsRecord) -> Result<(), String> {
        tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(event))
            .await
            .map_err(|_| format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))?
    }

    async fn attempt(&mut self, event: &NewsRecord) -> Result<(), String> {
        let target = Target::parse(&self.hook.url)?;
        let body = event.json();
        let id = event.id.to_string();
        let timestamp = u64::from(unix_secs(SystemTime::now()));
        let signed = signature::sign(&self.hook.secret, &id, timestamp, body.as_bytes())
            .ok_or("the webhook's secret is not one the bridge made; set the webhook again")?;
        let host = if (target.tls && target.port == 443) || (!target.tls && target.port == 80) {
            target.host.clone()
        } else if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let request = Request::post(target.path.as_str())
            .header(HOST, host)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                concat!("xmpp-game-bridge/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot make the request: {e}"))?;
        let sender = self.connection(&target).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
        if limited.collect().await.is_err() {
            // The status stands; the connection does not.
            self.conn = None;
        }
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(format!("answered {status}; redirects are not followed"))
        } else {
            Err(format!("answered {status}"))
        }
    }

    /// The kept-alive connection, or a new one.
    async fn connection(
        &mut self,
        target: &Target,
    ) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let reusable = match self.conn.as_mut() {
            Some(conn) => conn.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.conn = Some(self.connect(target).await?);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_owned())
    }

    async fn connect(&self, target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
        let allow = &self.shared.allow;
        target.check_scheme(allow)?;
        let addresses: Vec<std::net::IpAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
                .map(|a| a.ip())
                .collect();
        let address = target.pick(&addresses, allow)?;
        let tcp = TcpStream::connect(SocketAddr::new(address, target.port))
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if target.tls {
            let tls = self
                .tls
                .as_ref()
                .ok_or("no certificate authority could be read from the system")?;
            let name = rustls_pki_types_name(&target.host)?;
            Box::new(
                tls.connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {} failed: {e}", target.host))?,
            )
        } else {
            Box::new(tcp)
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP with {} failed: {e}", target.host))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// What a worker does after a pass.
enum Pass {
    /// More are owed: another pass now.
    More,
    /// Wait until then (a retry is due), or until woken.
    Until(u32),
    /// Nothing owed: wait until woken.
    Idle,
}

/// The wait before attempt `n` (2, 4, 8, … s, at most [`MAX_BACKOFF`]), jittered down
/// by up to a half, so that many events failed together are not retried together.
pub fn backoff(attempt: u32) -> Duration {
    let base = 2u64
        .saturating_pow(attempt.min(20))
        .min(MAX_BACKOFF.as_secs());
    let jitter = crate::transport::backoff::random_u64() % (base / 2 + 1);
    Duration::from_secs((base - jitter).max(1))
}

fn rustls_pki_types_name(
    host: &str,
) -> Result<tokio_rustls::rustls::pki_types::ServerName<'static>, String> {
    tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{host} is not a name TLS can verify"))
}

/// A TLS client trusting the system's certificate authorities; `None` if none could be
/// read (https webhooks then fail, each saying why).
fn tls_connector() -> Option<tokio_rustls::TlsConnector> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        warn!(%error, "cannot read a system certificate");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        warn!("no certificate authority found in the system's store: https webhooks will fail (install ca-certificates)");
        return None;
    }
    // ring's provider without the post-quantum key exchange, which it does not have.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_to_its_cap_with_jitter() {
        for attempt in 1..30 {
            let wait = backoff(attempt).as_secs();
            let base = 2u64.saturating_pow(attempt.min(20)).min(300);
            assert!(
                wait >= (base / 2).max(1) && wait <= base,
                "{attempt}: {wait}"
            );
        }
    }
}
