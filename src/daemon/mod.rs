//! Running the component: the database opened and migrated, the core on its own thread,
//! the link (and the HTTP front door and the metrics listener, where configured) on the
//! async runtime, the service manager told ([`notify`]: ready, status, watchdog), the
//! configuration reloaded on SIGHUP ([`reload`]), and a graceful shutdown on SIGTERM or
//! Ctrl-C.
//!
//! Shutdown order: stop reading from the server; let the core finish the inputs it has
//! and send its last stanzas; close the stream; close the database (WAL checkpointed).

pub mod notify;
pub mod reload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};
use xmpp_parsers::jid::BareJid;

use crate::admin::NewPlatform;
use crate::config::Config;
use crate::core::rate::Rate;
use crate::core::{Core, CoreConfig, Input, Outbox};
use crate::directory::activity::ReportKey;
use crate::store::{Store, StoreError};
use crate::transport::sessions_api::{self, ApiUrl};
use crate::transport::{self, backoff::random_u64, FatalLinkError, LinkSettings};
use crate::wire::Stanzas;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Link(#[from] FatalLinkError),
    #[error("cannot start: {0}")]
    Start(String),
    /// Another bridge took the lease over, or it could not be renewed in time.
    #[error("stepped down: {0}")]
    SteppedDown(String),
}

/// Longest sleep of the core thread when no timer is due: bounds how late a timer set
/// by a future change could fire.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// Batches of inputs (what one read from the server parsed, at most 8 KiB of it, or one
/// large stanza) waiting for the core, at most. When full, the link stops reading and the
/// server's TCP window slows the server down.
const INPUT_QUEUE: usize = 2;

/// Batches of stanzas waiting to be written (what the core answered to one batch of
/// inputs), at most. When full, the core waits for the link.
const OUTPUT_QUEUE: usize = 64;

/// Batches of inputs handled at once when more wait: their stanzas leave together.
const BATCHES_AT_ONCE: usize = 8;

/// How long shutdown waits for in-flight work and the stream's close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where the running configuration came from, and what changes live with it.
pub struct Source {
    /// Read again on SIGHUP.
    pub path: PathBuf,
    pub logs: crate::logging::LogControl,
}

pub async fn run(config: Config, source: Source) -> Result<(), RunError> {
    // First: from here on SIGHUP reloads instead of ending the process, before the
    // service manager hears that the bridge is ready (and may ask for a reload).
    let mut signals = Signals::new();
    let (events_tx, events_rx) = mpsc::channel::<Vec<Input>>(INPUT_QUEUE);
    let (out_tx, out_rx) = mpsc::channel::<Stanzas>(OUTPUT_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_tx = Arc::new(shutdown_tx);
    let notifier = notify::Notifier::from_env().map(Arc::new);
    // The operator's listener answers from the start: a standby says so.
    let role = Arc::new(crate::health::Role::default());
    let http_stats = Arc::<crate::health::HttpStats>::default();
    let histograms = Arc::<crate::health::Histograms>::default();
    if let Some(metrics) = &config.metrics {
        let listener = tokio::net::TcpListener::bind(metrics.listen)
            .await
            .map_err(|e| {
                RunError::Start(format!(
                    "cannot listen for metrics on {} (metrics.listen): {e}",
                    metrics.listen
                ))
            })?;
        let ops = crate::http::ops::Ops::new(
            events_tx.downgrade(),
            histograms.clone(),
            http_stats.clone(),
            role.clone(),
        );
        tokio::spawn(crate::http::ops::serve(listener, ops, shutdown_rx.clone()));
    }

    let max_stanza_bytes = config.link.max_outgoing_stanza_bytes;
    // The privacy page's links: a fresh key each start.
    let page = match &config.http {
        Some(http) => Some(
            crate::rights::page_link::PageLinks::new(&http.public_url)
                .map_err(|e| RunError::Start(format!("cannot read /dev/urandom: {e}")))?,
        ),
        None => None,
    };
    let core_config = CoreConfig {
        page: page.clone(),
        ..core_config(&config)
    };
    // The database is opened, and the core built from it, off the runtime: PostgreSQL's
    // client blocks.
    let location = config.storage.clone();
    let store = off_runtime(move || Store::open_at(&location)).await??;
    let holder = holder_name();
    let Some((store, fence)) = lead(
        store,
        &holder,
        config.lease,
        &role,
        (&mut signals, notifier.as_deref()),
    )
    .await?
    else {
        return Ok(());
    };
    let seeds = config.platforms.clone();
    let core_fence = fence.clone();
    let (mut core, schema_version) = off_runtime(move || {
        let mut store = store;
        store.fence(core_fence);
        seed_registry(&store, &seeds);
        let schema_version = store.schema_version()?;
        let core = Core::new(core_config, store, SystemTime::now(), random_u64());
        Ok::<_, RunError>((core, schema_version))
    })
    .await??;
    core.share(http_stats.clone(), histograms.clone());
    let checkpointer = match &config.storage {
        crate::store::Location::Sqlite(path) => Some(crate::store::Checkpointer::start(path)?),
        crate::store::Location::Postgres(_) => None,
    };
    info!(
        database = %config.storage,
        kind = core.state().store.kind(),
        schema_version,
        "database ready"
    );
    // The lease is renewed on a connection of its own, whatever the core's jobs wait for.
    let (lost_tx, mut lost) = watch::channel(None::<String>);
    {
        let location = config.storage.clone();
        let keeper = off_runtime(move || Store::open_at(&location)).await??;
        tokio::spawn(keep_lease(
            keeper,
            fence.clone(),
            config.lease,
            (lost_tx, shutdown_tx.clone()),
            shutdown_rx.clone(),
        ));
    }
    let queue = core.state().health.link_report.clone();
    // The HTTP door's answers come from the core's thread; its requests go in as inputs.
    let waiting = Arc::new(crate::http::Waiting::default());
    // Bumped when the core wrote news: webhooks and event streams look again.
    let (news_tx, news_rx) = watch::channel(0u64);
    if let Some(http) = &config.http {
        let shared = Arc::new(crate::http::webhook::Shared {
            store: {
                let (location, fence) = (config.storage.clone(), fence.clone());
                let store = off_runtime(move || {
                    Store::open_at(&location).map(|mut store| {
                        store.fence(fence);
                        store
                    })
                })
                .await??;
                Arc::new(std::sync::Mutex::new(store))
            },
            allow: http.webhook_allow.clone(),
            stats: http_stats.clone(),
            histograms: histograms.clone(),
            wake: news_rx.clone(),
        });
        tokio::spawn(crate::http::webhook::run(
            shared.clone(),
            shutdown_rx.clone(),
        ));
        let listener = crate::http::bind(http).await.map_err(|e| {
            RunError::Start(format!(
                "cannot listen for HTTP on {} (http.listen): {e}",
                http.listen
            ))
        })?;
        let links = crate::http::Links {
            events: events_tx.downgrade(),
            waiting: waiting.clone(),
            stats: core.state().health.http.clone(),
            news: shared,
            pages: page
                .clone()
                .map(|links| Arc::new(crate::http::page::Pages::new(links, &http.public_url))),
        };
        tokio::spawn(crate::http::serve(
            listener,
            http.clone(),
            links,
            shutdown_rx.clone(),
        ));
    }
    // Answers of the server's HTTP API come back as inputs, as long as the link's sender
    // lives (a weak one: it must not keep the core waiting at shutdown).
    let api = SessionsApi {
        url: config.ejabberd_api.clone(),
        runtime: tokio::runtime::Handle::current(),
        events: events_tx.downgrade(),
    };
    // PostgreSQL is across the network: the core hands its jobs to a storage worker of
    // their own, and does no I/O. SQLite stays on the core's thread.
    let mut core = core;
    let (storage, worker) = match &config.storage {
        crate::store::Location::Postgres(_) => match core.send_store_away() {
            Some(store) => {
                let (jobs_tx, jobs_rx) = std::sync::mpsc::channel();
                let input = events_tx.downgrade();
                let worker = std::thread::Builder::new()
                    .name("storage".to_owned())
                    .spawn(move || storage_worker(store, jobs_rx, input))
                    .map_err(|e| {
                        RunError::Start(format!("cannot start the storage worker: {e}"))
                    })?;
                (Some(jobs_tx), Some(worker))
            }
            None => (None, None),
        },
        crate::store::Location::Sqlite(_) => (None, None),
    };
    let core_thread = std::thread::Builder::new()
        .name("core".to_owned())
        .spawn(move || {
            drive_core(
                core,
                events_rx,
                out_tx,
                (api, waiting, news_tx),
                storage,
                max_stanza_bytes,
            )
        })
        .map_err(|e| RunError::Start(format!("cannot start the core thread: {e}")))?;

    let settings = link_settings(&config);
    let core_input = events_tx.downgrade();
    let mut link = tokio::spawn(transport::run(
        settings,
        events_tx,
        out_rx,
        shutdown_rx.clone(),
        queue,
    ));
    if let Some(notifier) = &notifier {
        notifier.send("READY=1\nSTATUS=holding the lease; connecting to the server");
        tokio::spawn(watch_core(
            notifier.clone(),
            notify::watchdog_interval(),
            core_input.clone(),
            shutdown_rx.clone(),
        ));
    }
    let mut running = config;

    let mut stepped_down = None;
    let link_result = loop {
        let signal = tokio::select! {
            result = &mut link => break link_outcome(result),
            signal = signals.next() => signal,
            _ = lost.changed() => {
                let why = lost.borrow().clone().unwrap_or_default();
                error!(%why, "this bridge no longer holds the lease: it stops, and its service manager starts it again as a standby");
                stepped_down = Some(why);
                "lease lost"
            }
        };
        if signal == "SIGHUP" {
            if let Some(notifier) = &notifier {
                notifier.send("RELOADING=1");
            }
            reload_config(&mut running, &source, &core_input).await;
            if let Some(notifier) = &notifier {
                notifier.send("READY=1");
            }
            continue;
        }
        info!(signal, "shutdown requested");
        if let Some(notifier) = &notifier {
            notifier.send("STOPPING=1");
        }
        let _ = shutdown_tx.send(true);
        // The transport returns once the core has drained and the stream is closed.
        break match tokio::time::timeout(SHUTDOWN_GRACE, &mut link).await {
            Ok(result) => link_outcome(result),
            Err(_) => {
                warn!("the link did not close in time; closing anyway");
                link.abort();
                Ok(())
            }
        };
    };
    let _ = shutdown_tx.send(true);
    // A bridge that lost its lease says so whatever else happens now.
    let link_result = match &stepped_down {
        Some(why) => Err(RunError::SteppedDown(why.clone())),
        None => link_result,
    };
    // Shutdown has a deadline: the core's last work (answers to what waits, one last
    // write of last-seen times) is bounded, and so is the wait for it.
    let joined = tokio::time::timeout(
        SHUTDOWN_GRACE,
        tokio::task::spawn_blocking(move || core_thread.join()),
    )
    .await;
    let store = match joined {
        Ok(joined) => joined
            .map_err(|e| RunError::Start(format!("core thread lost: {e}")))?
            .map_err(|_| RunError::Start("the core thread panicked".to_owned()))?,
        Err(_) => {
            // SQLite's WAL keeps every committed write; only a checkpoint is skipped.
            warn!("the core did not finish in time; exiting without closing the database");
            return link_result;
        }
    };
    // The core is done: the storage worker finishes the jobs it was handed (the last
    // batch among them) and gives the store back.
    let store = match (store, worker) {
        (Some(store), _) => store,
        (None, Some(worker)) => {
            let finished = tokio::time::timeout(
                SHUTDOWN_GRACE,
                tokio::task::spawn_blocking(move || worker.join()),
            )
            .await;
            match finished {
                Ok(Ok(Ok(store))) => store,
                _ => {
                    warn!("the storage worker did not finish in time; exiting without its last writes");
                    return link_result;
                }
            }
        }
        (None, None) => return link_result,
    };
    drop(checkpointer);
    let clean = stepped_down.is_none();
    off_runtime(move || {
        if clean {
            // A standby takes over at once rather than when the lease runs out.
            if let Err(e) = store.release(&fence) {
                warn!(error = %e, "cannot give up the lease; a standby takes over when it runs out");
            }
        }
        store.close()
    })
    .await??;
    info!("database closed");
    link_result
}

/// The machine's name in the lease: `XMPP_GAME_BRIDGE_NODE`, or the host name.
fn node_name() -> String {
    std::env::var("XMPP_GAME_BRIDGE_NODE")
        .ok()
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "host".to_owned())
}

/// This process on this machine, as the lease names its holder.
fn holder_name() -> String {
    format!(
        "{}/{}/{:08x}",
        node_name(),
        std::process::id(),
        random_u64() as u32
    )
}

/// Whether `holder` (as [`holder_name`] names it) was a process of this machine that is
/// no longer running.
fn gone_from_here(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, '/');
    let (_, pid, host) = (parts.next(), parts.next(), parts.next());
    match (host, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(host), Some(pid)) if host == node_name() && pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// How often a standby looks whether the lease is free.
fn standby_look(lease: Duration) -> Duration {
    (lease / 5).clamp(Duration::from_millis(200), Duration::from_secs(1))
}

/// Waits for the lease: `Some` once this bridge holds it, `None` if it was asked to stop
/// meanwhile. Meanwhile it is a standby: `/readyz` says so, and so does the service
/// manager's status.
async fn lead(
    store: Store,
    holder: &str,
    lease: Duration,
    role: &crate::health::Role,
    (signals, notifier): (&mut Signals, Option<&notify::Notifier>),
) -> Result<Option<(Store, crate::store::Fence)>, RunError> {
    let store = Arc::new(std::sync::Mutex::new(store));
    let ttl = lease.as_millis() as i64;
    let mut told = None;
    loop {
        let (claiming, claimant) = (store.clone(), holder.to_owned());
        let claimed = off_runtime(move || -> Result<Result<i64, String>, StoreError> {
            let store = claiming
                .lock()
                .map_err(|_| StoreError::Value("the database was poisoned".into()))?;
            if let Some(term) = store.claim(&claimant, None, ttl)? {
                return Ok(Ok(term));
            }
            let lease = store.lease()?;
            if let Some((gone, ..)) = lease.as_ref().filter(|(h, ..)| gone_from_here(h)) {
                // A process of this machine that is no longer there (killed, crashed):
                // its lease need not run out first.
                info!(holder = %gone, "the lease's holder was a process of this machine that is gone; its lease ends now");
                store.expire(gone)?;
                if let Some(term) = store.claim(&claimant, None, ttl)? {
                    return Ok(Ok(term));
                }
            }
            Ok(Err(lease.map_or_else(
                || "nobody".to_owned(),
                |(holder, term, left)| format!("{holder} (term {term}, {left} ms left)"),
            )))
        })
        .await?;
        let held_by = match claimed {
            Ok(Ok(term)) => {
                info!(holder, term, "this bridge holds the lease: it serves");
                role.leader();
                let store = Arc::try_unwrap(store)
                    .map_err(|_| RunError::Start("the database is still in use".to_owned()))?
                    .into_inner()
                    .map_err(|_| RunError::Start("the database was poisoned".to_owned()))?;
                let fence = crate::store::Fence {
                    holder: holder.to_owned(),
                    term,
                };
                return Ok(Some((store, fence)));
            }
            Ok(Err(held_by)) => held_by,
            Err(e) => format!("unknown: the database cannot be asked ({e})"),
        };
        let who = held_by.split(' ').next().unwrap_or_default().to_owned();
        if told.as_deref() != Some(who.as_str()) {
            info!(lease = %held_by, "standby: another bridge holds the lease; this one takes over when it lapses");
            if let Some(notifier) = notifier {
                notifier.send(&format!("READY=1\nSTATUS=standby: {who} holds the lease"));
            }
            told = Some(who.clone());
        }
        role.standby(&who);
        if let Some(notifier) = notifier {
            // A standby that looks at the lease is alive.
            notifier.send("WATCHDOG=1");
        }
        tokio::select! {
            _ = tokio::time::sleep(standby_look(lease)) => {}
            signal = signals.next() => {
                if signal != "SIGHUP" {
                    info!(signal, "stopped while standby");
                    if let Some(notifier) = notifier {
                        notifier.send("STOPPING=1");
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// A renewal of the lease under way: when it was asked for, and its answer to come.
type Renewal = (
    tokio::time::Instant,
    tokio::task::JoinHandle<Result<Option<i64>, StoreError>>,
);

/// Renews the lease every third of its time until `shutdown`; if it was taken over or
/// could not be renewed before it would run out, stops the bridge at once (the link does
/// not connect again) and says why on `lost`.
async fn keep_lease(
    store: Store,
    fence: crate::store::Fence,
    lease: Duration,
    (lost, stop): (watch::Sender<Option<String>>, Arc<watch::Sender<bool>>),
    mut shutdown: watch::Receiver<bool>,
) {
    let step_down = |why: String| {
        let _ = stop.send(true);
        let _ = lost.send(Some(why));
    };
    let store = Arc::new(std::sync::Mutex::new(store));
    let ttl = lease.as_millis() as i64;
    let every = lease / 3;
    // Counted from when a renewal was asked for, not answered: on the safe side.
    let mut renewed = tokio::time::Instant::now();
    let give_up = lease.saturating_sub(lease / 5);
    let mut pending: Option<Renewal> = None;
    let mut next = tokio::time::Instant::now() + every;
    loop {
        let now = tokio::time::Instant::now();
        if pending.is_none() && now >= next {
            let (store, fence) = (store.clone(), fence.clone());
            pending = Some((
                now,
                tokio::task::spawn_blocking(move || {
                    let store = store
                        .lock()
                        .map_err(|_| StoreError::Value("the database was poisoned".into()))?;
                    store.claim(&fence.holder, Some(fence.term), ttl)
                }),
            ));
        }
        let deadline = renewed + give_up;
        let wake = if pending.is_some() {
            deadline
        } else {
            next.min(deadline)
        };
        let outcome = match pending.as_mut() {
            Some((_, handle)) => tokio::select! {
                done = handle => Some(done),
                _ = tokio::time::sleep_until(wake) => None,
                _ = shutdown.changed() => return,
            },
            None => tokio::select! {
                _ = tokio::time::sleep_until(wake) => None,
                _ = shutdown.changed() => return,
            },
        };
        if let Some(done) = outcome {
            let asked = pending.take().map_or(renewed, |(asked, _)| asked);
            match done {
                Ok(Ok(Some(term))) if term == fence.term => {
                    renewed = asked;
                    next = renewed + every;
                }
                Ok(Ok(_)) => {
                    step_down("another bridge took the lease over".to_owned());
                    return;
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "cannot renew the lease; trying again");
                    next = tokio::time::Instant::now() + every / 4;
                }
                Err(e) => {
                    warn!(error = %e, "the lease's renewal was lost; trying again");
                    next = tokio::time::Instant::now();
                }
            }
        }
        if tokio::time::Instant::now() >= renewed + give_up {
            step_down(format!(
                "the lease could not be renewed for {} ms; it runs out soon",
                give_up.as_millis()
            ));
            return;
        }
    }
}

fn link_outcome(
    result: Result<Result<(), FatalLinkError>, tokio::task::JoinError>,
) -> Result<(), RunError> {
    match result {
        Ok(result) => Ok(result?),
        Err(e) => Err(RunError::Start(format!("the link task failed: {e}"))),
    }
}

/// The part of `config` the core decides with.
pub fn core_config(config: &Config) -> CoreConfig {
    CoreConfig {
        component: config.component_jid.clone(),
        name: config.component_name.clone(),
        domains: config.domains.clone(),
        admins: config.admins.clone(),
        access: config.access.clone(),
        consent: config.consent,
        audit_days: config.audit_days,
        rights: config.rights.clone(),
        iq_timeout: config.link.iq_timeout,
        command_session: config.link.command_session,
        directory: config.directory.clone(),
        max_stanza_bytes: config.link.max_outgoing_stanza_bytes,
        activity_key: ReportKey::derive(config.secret.expose()),
        platform_rate: Rate::per_sec(config.limits.platform_requests_per_sec),
        other_rate: Rate::per_sec(config.limits.user_requests_per_sec),
        sessions_api: config.ejabberd_api.is_some(),
        page: None,
        salt: 0,
    }
}

/// Registers the platforms of the configuration (`[[platform]]`) that are not yet; an
/// entry already there (perhaps changed with the CLI) is left as it is.
/// Runs `work` on a thread of its own, where it may block (PostgreSQL's client does), and
/// waits for it without holding up the runtime.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RunError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RunError::Start(format!("a blocking task was lost: {e}")))
}

pub fn seed_registry(store: &Store, seeds: &[NewPlatform]) {
    for seed in seeds {
        if let Ok(added) = crate::admin::add(store, seed) {
            info!("platform from the configuration {added}");
        }
    }
}

/// The core's thread: batches of inputs in, batches of serialised stanzas out, ticks
/// when timers are due.
///
/// Both channels are bounded. The core blocks when the link has not written its earlier
/// answers yet (back-pressure reaches the reading side, which stops reading); the link
/// never blocks on the core, so the two cannot wait for each other. Every batch ready
/// when the core wakes is handled before it sends what it answered, in one batch.
fn drive_core(
    mut core: Core,
    mut events: mpsc::Receiver<Vec<Input>>,
    out: mpsc::Sender<Stanzas>,
    (api, doors, news): (SessionsApi, Arc<crate::http::Waiting>, watch::Sender<u64>),
    storage: Option<std::sync::mpsc::Sender<(u64, crate::store::Job)>>,
    max_stanza_bytes: usize,
) -> Option<Store> {
    // A timer for the wait with a timeout; nothing else runs on it.
    let clock = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the core's timer; the core stops");
            let mut outbox = Outbox::new(max_stanza_bytes);
            let store = core.into_store(&mut outbox);
            hand_jobs(&storage, &mut outbox);
            return store;
        }
    };
    let mut outbox = Outbox::new(max_stanza_bytes);
    let mut wake: Option<SystemTime> = None;
    let histograms = core.state().health.histograms.clone();
    'run: loop {
        let timeout = wake
            .map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE);
        let first = match events.try_recv() {
            Ok(batch) => batch,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match clock.block_on(async { tokio::time::timeout(timeout, events.recv()).await }) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(_) => vec![Input::Tick],
                }
            }
        };
        let now = SystemTime::now();
        core.handle_batch(first, now, &mut outbox);
        let mut closed = false;
        for _ in 1..BATCHES_AT_ONCE {
            match events.try_recv() {
                Ok(batch) => core.handle_batch(batch, now, &mut outbox),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        wake = outbox.wake_at.take();
        for answer in outbox.answers.drain(..) {
            doors.deliver(answer);
        }
        if std::mem::take(&mut outbox.news_written) {
            news.send_modify(|n| *n = n.wrapping_add(1));
        }
        for (domain, link) in outbox.list_sessions.drain(..) {
            api.list(domain, link);
        }
        hand_jobs(&storage, &mut outbox);
        if !outbox.wire.is_empty() && out.blocking_send(outbox.wire.take()).is_err() {
            warn!("the link is gone; stanzas were not sent");
        }
        if !outbox.answered.is_empty() {
            // The answers have left the core: their latency ends here.
            let left = SystemTime::now();
            histograms.answered(
                outbox
                    .answered
                    .drain(..)
                    .map(|(key, at)| (key, left.duration_since(at).unwrap_or_default())),
            );
        }
        if closed {
            break 'run;
        }
    }
    core.shutdown(&mut outbox);
    if !outbox.wire.is_empty() {
        let _ = out.blocking_send(outbox.wire.take());
    }
    info!("core stopped");
    let store = core.into_store(&mut outbox);
    hand_jobs(&storage, &mut outbox);
    store
}

/// Hands the outbox's jobs to the storage worker, in order.
fn hand_jobs(
    storage: &Option<std::sync::mpsc::Sender<(u64, crate::store::Job)>>,
    outbox: &mut Outbox,
) {
    match storage {
        Some(worker) => {
            for job in outbox.jobs.drain(..) {
                if worker.send(job).is_err() {
                    error!("the storage worker is gone; a job was dropped");
                    break;
                }
            }
        }
        None => outbox.jobs.clear(),
    }
}

/// Jobs the storage worker takes at once, at most.
const GROUP: usize = 256;

/// The storage worker: runs the core's jobs on the database in the order they came, and
/// hands their outcomes back to the core as inputs. Requests' writes waiting together
/// are stored in one transaction (a savepoint each: each all or nothing), so that many
/// answers wait for one commit. A passing failure of the database (a lost connection, a
/// lock waited for too long) is tried again, twice, before the core hears of it. Ends
/// when the core drops its sender, after the jobs already handed over; gives the store
/// back.
fn storage_worker(
    mut store: Store,
    jobs: std::sync::mpsc::Receiver<(u64, crate::store::Job)>,
    core: mpsc::WeakSender<Vec<Input>>,
) -> Store {
    use crate::core::storage::Stored;
    use crate::store::Job;
    let retried = |store: &mut Store, job: &Job| {
        let mut result = job.run(store);
        for pause in [100, 400] {
            match &result {
                Err(StoreError::Postgres(_) | StoreError::Connect { .. }) => {
                    std::thread::sleep(Duration::from_millis(pause));
                    result = job.run(store);
                }
                _ => break,
            }
        }
        result
    };
    while let Ok(first) = jobs.recv() {
        let mut taken = vec![first];
        while taken.len() < GROUP {
            match jobs.try_recv() {
                Ok(next) => taken.push(next),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Stored> = Vec::with_capacity(taken.len());
        let mut rest = taken.into_iter().peekable();
        while let Some((ticket, job)) = rest.next() {
            let mut group = vec![(ticket, job)];
            while matches!(group[0].1, Job::Commit(_))
                && matches!(rest.peek(), Some((_, Job::Commit(_))))
            {
                group.extend(rest.next());
            }
            if group.len() == 1 {
                let (ticket, job) = group.remove(0);
                let result = retried(&mut store, &job);
                outcomes.push(Stored {
                    ticket,
                    job,
                    result,
                });
                continue;
            }
            let sets: Vec<&[crate::store::Write]> = group
                .iter()
                .map(|(_, job)| match job {
                    Job::Commit(writes) => writes.as_slice(),
                    _ => &[],
                })
                .collect();
            let mut grouped = store.commit_group(&sets);
            for pause in [100, 400] {
                match &grouped {
                    Err(StoreError::Postgres(_) | StoreError::Connect { .. }) => {
                        std::thread::sleep(Duration::from_millis(pause));
                        grouped = store.commit_group(&sets);
                    }
                    _ => break,
                }
            }
            match grouped {
                Ok(results) => {
                    for ((ticket, job), result) in group.into_iter().zip(results) {
                        let result = result.map(|()| crate::store::Done::Stored);
                        outcomes.push(Stored {
                            ticket,
                            job,
                            result,
                        });
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    for (ticket, job) in group {
                        let result = Err(match e {
                            StoreError::Fenced { term } => StoreError::Fenced { term },
                            _ => StoreError::Value(text.clone()),
                        });
                        outcomes.push(Stored {
                            ticket,
                            job,
                            result,
                        });
                    }
                }
            }
        }
        for outcome in &outcomes {
            if let Err(e @ StoreError::Fenced { .. }) = &outcome.result {
                warn!(error = %e, "a write was refused");
            }
        }
        let Some(core) = core.upgrade() else {
            continue;
        };
        let inputs: Vec<Input> = outcomes
            .into_iter()
            .map(|stored| Input::Stored(Box::new(stored)))
            .collect();
        let _ = core.blocking_send(inputs);
    }
    store
}

/// How long the server's HTTP API may take to list the sessions of one domain.
const SESSIONS_API_TIMEOUT: Duration = Duration::from_secs(15);

/// ejabberd's HTTP API, asked on the runtime on the core's behalf.
struct SessionsApi {
    url: Option<ApiUrl>,
    runtime: tokio::runtime::Handle,
    events: mpsc::WeakSender<Vec<Input>>,
}

impl SessionsApi {
    fn list(&self, domain: BareJid, link: u32) {
        let Some(url) = self.url.clone() else {
            return;
        };
        let events = self.events.clone();
        self.runtime.spawn(async move {
            let sessions =
                sessions_api::connected_users(&url, domain.as_str(), SESSIONS_API_TIMEOUT).await;
            if let Some(events) = events.upgrade() {
                let _ = events
                    .send(vec![Input::Sessions {
                        domain,
                        link,
                        sessions,
                    }])
                    .await;
            }
        });
    }
}

/// How the link is made, from the configuration (also the doctor's).
pub fn link_settings(config: &Config) -> LinkSettings {
    LinkSettings {
        host: config.server_host.clone(),
        port: config.server_port,
        component: config.component_jid.clone(),
        secret: config.secret.clone(),
        keepalive_to: config
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| server_domain_guess(&config.component_jid)),
        keepalive: config.link.keepalive,
        response_timeout: config.link.response_timeout,
        reconnect_initial: config.link.reconnect_initial,
        reconnect_max: config.link.reconnect_max,
        max_incoming_stanza_bytes: config.link.max_incoming_stanza_bytes,
        route_check: true,
    }
}

/// `game.example.org` → `example.org`; only used if no domain is configured, which the
/// config validation does not allow, so this is a fallback for library callers.
fn server_domain_guess(component: &BareJid) -> BareJid {
    component
        .as_str()
        .split_once('.')
        .and_then(|(_, rest)| rest.parse().ok())
        .unwrap_or_else(|| component.clone())
}

/// Reads the configuration again: applies what may change live, says what waits for a
/// restart, and keeps the running configuration whole if the file cannot be used.
async fn reload_config(running: &mut Config, source: &Source, core: &mpsc::WeakSender<Vec<Input>>) {
    info!(path = %source.path.display(), "reloading the configuration (SIGHUP)");
    let new = match Config::load(&source.path) {
        Ok(new) => new,
        Err(e) => {
            error!("the configuration was not reloaded, the running one stays: {e}");
            return;
        }
    };
    for warning in new.warnings() {
        warn!("{warning}");
    }
    let changes = reload::changes(running, &new);
    if changes.is_empty() {
        info!("the configuration is unchanged");
        return;
    }
    if !changes.restart.is_empty() {
        warn!(
            keys = %changes.restart.join(", "),
            "changed in the file, but they take a restart (systemctl restart xmpp-game-bridge); the running link and listeners keep the old values"
        );
    }
    if changes.live.is_empty() {
        return;
    }
    if changes.live.contains(&"logging.level") && !source.logs.set_level(new.log_level) {
        warn!("the log level could not be changed");
    }
    if changes.live.contains(&"platforms") {
        let (location, seeds) = (new.storage.clone(), new.platforms.clone());
        let seeded = off_runtime(move || {
            Store::open_at(&location).map(|store| seed_registry(&store, &seeds))
        })
        .await;
        match seeded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot open the database to add the new platforms"),
            Err(e) => warn!(error = %e, "cannot add the new platforms"),
        }
    }
    let Some(sender) = core.upgrade() else {
        return;
    };
    // The core takes what it may change; the rest of its configuration stays as it
    // was built (see `Core::reconfigure`).
    let mut applied = running.clone();
    applied.log_level = new.log_level;
    applied.admins = new.admins.clone();
    applied.platforms = new.platforms.clone();
    applied.access = new.access.clone();
    applied.consent = new.consent;
    applied.audit_days = new.audit_days;
    applied.rights = new.rights.clone();
    applied.limits = new.limits.clone();
    applied.component_name = new.component_name.clone();
    applied.link.iq_timeout = new.link.iq_timeout;
    applied.link.command_session = new.link.command_session;
    if sender
        .send(vec![Input::Reconfigure(Box::new(core_config(&applied)))])
        .await
        .is_err()
    {
        warn!("the core is stopping; the configuration was not applied");
        return;
    }
    info!(keys = %changes.live.join(", "), "configuration reloaded; changed at once");
    *running = applied;
}

/// Feeds the service manager's watchdog while the core answers, and keeps its status
/// line up to date: a core stuck for `WatchdogSec` is restarted.
async fn watch_core(
    notifier: Arc<notify::Notifier>,
    watchdog: Option<Duration>,
    core: mpsc::WeakSender<Vec<Input>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = watchdog.map_or(STATUS_EVERY, |w| (w / 2).min(STATUS_EVERY));
    let mut last_status = String::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        match crate::http::ops::look(&core, every).await {
            Some(snapshot) => {
                let status = notify::status_line(&snapshot.unready);
                let mut message = String::new();
                if watchdog.is_some() {
                    message.push_str("WATCHDOG=1\n");
                }
                if status != last_status {
                    message.push_str(&status);
                    last_status = status;
                }
                if !message.is_empty() {
                    notifier.send(&message);
                }
            }
            None if core.upgrade().is_none() => return,
            None => warn!(
                waited_ms = every.as_millis() as u64,
                "the core did not answer in time; the watchdog is not fed"
            ),
        }
    }
}

/// How often the status line is brought up to date without a watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// The signals the bridge acts on: SIGTERM and Ctrl-C stop it, SIGHUP reloads.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(e) => {
                    error!(error = %e, "cannot listen for {name}");
                    None
                }
            };
            Signals {
                term: listen(SignalKind::terminate(), "SIGTERM"),
                hangup: listen(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal, by name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => "SIGTERM",
                _ = recv(&mut self.hangup) => "SIGHUP",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// The service manager's side: what it heard within `wait`, or until `enough` of it.
    fn heard(manager: &UnixDatagram, wait: Duration, enough: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + wait;
        let mut heard = String::new();
        let mut buf = [0u8; 1024];
        while std::time::Instant::now() < deadline && !enough(&heard) {
            if let Ok(n) = manager.recv(&mut buf) {
                heard.push_str(&String::from_utf8_lossy(&buf[..n]));
                heard.push('\n');
            }
        }
        heard
    }

    /// The watchdog is fed while the core answers its looks, and not once it stops
    /// answering: the service manager then restarts a stuck core.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watchdog_is_fed_only_while_the_core_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        manager
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        let notifier = Arc::new(notify::Notifier::from_env().unwrap());
        std::env::remove_var("NOTIFY_SOCKET");
        let (tx, mut rx) = mpsc::channel::<Vec<Input>>(4);
        let (_shutdown_tx, shutdown_rx) = watch::channel(false);
        let answering = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let core = {
            let answering = answering.clone();
            tokio::spawn(async move {
                while let Some(inputs) = rx.recv().await {
                    for input in inputs {
                        if let Input::Look(look) = input {
                            if answering.load(std::sync::atomic::Ordering::SeqCst) {
                                look.answer(crate::health::Snapshot::default());
                            }
                        }
                    }
                }
            })
        };
        tokio::spawn(watch_core(
            notifier,
            Some(Duration::from_millis(200)),
            tx.downgrade(),
            shutdown_rx,
        ));
        let fed = tokio::task::spawn_blocking({
            let manager = manager.try_clone().unwrap();
            move || {
                heard(&manager, Duration::from_secs(10), |h| {
                    h.matches("WATCHDOG=1").count() >= 3 && h.contains("STATUS=ready")
                })
            }
        })
        .await
        .unwrap();
        assert!(fed.matches("WATCHDOG=1").count() >= 3, "{fed}");
        assert!(fed.contains("STATUS=ready"), "{fed}");
        // The core stops answering: the watchdog goes hungry.
        answering.store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let hungry = tokio::task::spawn_blocking(move || {
            heard(&manager, Duration::from_millis(800), |_| false)
        })
        .await
        .unwrap();
        assert!(!hungry.contains("WATCHDOG=1"), "{hungry}");
        drop(tx);
        core.abort();
    }
}
