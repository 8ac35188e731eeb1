//! `stats`: the operator's view of the bridge (uptime, link, counters). Single step.

use crate::rights::Operator;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::{Ctx, Flow, NoInput, Node, View};
use crate::failure::Failure;
use crate::health::{HttpStats, Link, Reading, Value};

use crate::xep::forms::FieldType;

/// FORM_TYPE of the result, so programs can recognise it.
pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:stats:1";

/// The server software of each served domain; the counters are named as `stats` makes
/// them.
const SERVERS: Spec = Spec::new("servers", "Server software", FieldType::TextMulti);

pub struct Stats;

impl Node for Stats {
    const NODE: &'static str = "stats";
    const NAME: &'static str = "Bridge statistics";
    type Caller = Operator;
    type Query = NoInput;

    fn run(_: NoInput, ctx: &mut Ctx<'_, Operator>) -> Result<Flow<Operator>, Failure> {
        run(ctx)
    }
}

struct StatsAnswer {
    readings: Vec<Reading>,
    servers: Vec<String>,
}

impl Answer for StatsAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Game bridge statistics");
        for reading in &self.readings {
            let value = match &reading.value {
                Value::Count(n) | Value::Gauge(n) => n.to_string(),
                Value::Text(text) => text.clone(),
            };
            out.named_field(reading.var, reading.label, FieldType::TextSingle, &value);
        }
        out.fields(&SERVERS, &self.servers);
    }

    fn summary(&self) -> String {
        let value = |var: &str| {
            self.readings
                .iter()
                .find(|r| r.var == var)
                .map_or(String::new(), |r| match &r.value {
                    Value::Count(n) | Value::Gauge(n) => n.to_string(),
                    Value::Text(text) => text.clone(),
                })
        };
        format!(
            "link {}, up {} s, {} commands served, {} online resources, database {}",
            value("link"),
            value("uptime"),
            value("commands-served"),
            value("online-resources"),
            value("storage"),
        )
    }
}

fn run(ctx: &mut Ctx<'_, Operator>) -> Result<Flow<Operator>, Failure> {
    let mut readings = readings(ctx)?;
    // Counted before this request is answered: it includes the request itself.
    for reading in &mut readings {
        if let ("commands-served", Value::Count(n)) = (reading.var, &mut reading.value) {
            *n += 1;
        }
    }
    let servers: Vec<String> = ctx
        .directory
        .domains
        .iter()
        .filter_map(|d| d.software.as_ref().map(|s| format!("{}: {s}", d.jid)))
        .collect();
    Flow::done(StatsAnswer { readings, servers })
}

/// The `route` reading while the server sends the component's stanzas to this link alone.
pub const ROUTE_ALONE: &str = "this link alone";

/// Every figure of `stats`, in its order: what `/metrics` exports too.
pub fn readings(view: &View<'_>) -> Result<Vec<Reading>, Failure> {
    let ctx = view;
    let health = ctx.health;
    let since = |t: SystemTime| {
        ctx.now
            .duration_since(t)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    };
    let (link, link_since) = match health.link {
        Link::Up { since: t } => ("up", since(t)),
        Link::Down { since: t } => ("down", since(t)),
    };
    let schema = ctx.schema_version;
    let stats = &health.stats;
    let directory = ctx.directory;
    let report = &ctx.health.link_report;
    let queue = report.get();
    let mut readings = vec![
        text("version", "Version", env!("CARGO_PKG_VERSION").to_owned()),
        gauge("uptime", "Uptime (seconds)", since(health.started_at)),
        text("link", "Link to the server", link.to_owned()),
        gauge(
            "link-since",
            "Link state unchanged for (seconds)",
            link_since,
        ),
        count("reconnects", "Reconnections", stats.reconnects()),
        count("commands-served", "Commands served", stats.commands_served),
        count("stanzas-in", "Stanzas received", stats.stanzas_in),
        count("stanzas-out", "Stanzas sent", stats.stanzas_out),
        count(
            "stanzas-dropped",
            "Stanzas dropped as malformed",
            stats.stanzas_dropped,
        ),
        count(
            "stanzas-skipped",
            "Stanzas skipped as too large or too deep",
            stats.stanzas_skipped,
        ),
        count(
            "stanzas-oversized",
            "Stanzas of the bridge's over the size limit",
            stats.stanzas_oversized,
        ),
        text(
            "storage",
            "Database",
            match health.storage_failing_since {
                None => "ok".to_owned(),
                Some(t) => format!("writes failing for {} s", since(t)),
            },
        ),
        gauge(
            "storage-failing-since",
            "Database writes failing for (seconds; 0 while they succeed)",
            health.storage_failing_since.map_or(0, since),
        ),
        count(
            "storage-writes",
            "Database transactions committed",
            stats.storage_writes,
        ),
        count(
            "storage-failures",
            "Database writes failed (retried)",
            stats.storage_failures,
        ),
        count(
            "storage-jobs",
            "Database jobs sent to the storage worker (PostgreSQL)",
            stats.storage_jobs_sent,
        ),
        gauge(
            "storage-jobs-waiting",
            "Database jobs out with the storage worker (PostgreSQL)",
            stats.storage_jobs_waiting,
        ),
        count(
            "storage-jobs-refused",
            "Requests refused: too many database jobs out (PostgreSQL)",
            stats.storage_jobs_refused,
        ),
        gauge(
            "pending-writes",
            "Last-seen times waiting to be written",
            directory.pending_last_seen(),
        ),
        count(
            "remote-presences-dropped",
            "Presences of unlisted users of other servers not kept",
            directory.remote_dropped,
        ),
        count(
            "resources-evicted",
            "Resources forgotten at the per-user cap",
            directory.resources_evicted,
        ),
        count(
            "requests-refused-busy",
            "Requests refused: a cap or a rate reached",
            stats.requests_refused_busy,
        ),
        count(
            "requests-rate-limited",
            "Requests refused: requester over its rate",
            stats.requests_rate_limited,
        ),
        gauge(
            "rosters-fetching",
            "Rosters being fetched",
            stats.rosters_fetching,
        ),
        gauge(
            "presence-checks-pending",
            "Pings out to confirm devices",
            stats.presence_checks_pending,
        ),
        gauge(
            "requests-waiting",
            "Requests waiting for rosters or pings",
            stats.requests_waiting,
        ),
        count(
            "presence-checks",
            "Pings sent to confirm devices",
            stats.presence_checks,
        ),
        count(
            "presence-updates",
            "Presence updates from the server",
            health.histograms.presence.total(),
        ),
        count(
            "iq-timeouts",
            "IQs to the server not answered in time",
            health.iq_timeouts,
        ),
        count(
            "departures-found",
            "Devices the server said were gone",
            stats.departures_found,
        ),
        gauge(
            "sessions-live",
            "Command sessions open",
            stats.sessions_live,
        ),
        gauge("iqs-pending", "IQs awaiting a reply", stats.iqs_pending),
        gauge(
            "requesters-tracked",
            "Requesters whose rate is tracked",
            stats.requesters_tracked,
        ),
        gauge("schema-version", "Database schema version", schema),
        gauge(
            "online-resources",
            "Online resources",
            directory.online_resources(),
        ),
        gauge(
            "names-known",
            "Bare JIDs held by the directory",
            directory.interned(),
        ),
        gauge("rosters-cached", "Rosters cached", directory.rosters.len()),
        gauge(
            "roster-cache-bytes",
            "Roster cache size (bytes)",
            directory.rosters.used_bytes(),
        ),
        gauge(
            "platforms-registered",
            "Platforms in the registry",
            ctx.registry.len(),
        ),
        gauge(
            "send-queue-bytes",
            "Bytes waiting to be sent to the server (at most 16 MiB, then sent past the window)",
            queue.queued_bytes,
        ),
        gauge(
            "send-queue-requesters",
            "Destinations with stanzas waiting, served in turns",
            queue.lanes,
        ),
        gauge(
            "send-in-flight-bytes",
            "Sent, not yet confirmed processed by the server (bytes, and 768 a stanza)",
            queue.in_flight,
        ),
        gauge(
            "send-window-bytes",
            "What may be in flight now (bytes, and 768 a stanza; adapts to the server)",
            queue.window,
        ),
        count(
            "send-markers",
            "Markers (pings to the server) sent to learn what it processed",
            queue.marks_sent,
        ),
        count(
            "send-queue-overflows",
            "Writes made past the window because the send queue was full",
            queue.overflows,
        ),
        text(
            "route",
            "The component's stanzas reach",
            if report.route_shared.load(Ordering::Relaxed) {
                "this link and another connection".to_owned()
            } else {
                ROUTE_ALONE.to_owned()
            },
        ),
        count(
            "route-pings",
            "Pings to itself the link sent, to check that the server routes the component's stanzas to it alone",
            report.route_probes.load(Ordering::Relaxed),
        ),
        count(
            "route-pings-lost",
            "Of those, routed to another connection",
            report.route_probes_lost.load(Ordering::Relaxed),
        ),
        count(
            "route-pings-foreign",
            "Route pings of another live connection of the component, heard",
            report.route_foreign.load(Ordering::Relaxed),
        ),
        count(
            "route-relinks",
            "Links made again once the route was the link's alone again",
            report.route_relinks.load(Ordering::Relaxed),
        ),
        gauge(
            "platforms-unregistered",
            "Platforms outside the registry that asked (at most 1,000)",
            ctx.askers.len(),
        ),
        count(
            "platforms-unregistered-forgotten",
            "Platforms outside the registry forgotten at the cap",
            ctx.askers.forgotten,
        ),
        gauge(
            "consent-records",
            "Users with privacy choices (at most 1,000,000)",
            ctx.consent.len(),
        ),
        gauge(
            "self-statuses",
            "Self-defined statuses (at most 1,000,000)",
            ctx.self_status.len(),
        ),
        gauge(
            "prompts-waiting",
            "Questions waiting for users' answers (at most 100,000)",
            ctx.prompts.len(),
        ),
        gauge(
            "invites-open",
            "Invites that may still change (at most 100,000)",
            ctx.invites.len(),
        ),
        gauge(
            "mutes",
            "Invitation mutes (at most 1,000,000)",
            ctx.mutes.len(),
        ),
        gauge(
            "decline-runs",
            "Invitees' runs of declines of one host, for the cooldown (at most 1,000,000)",
            ctx.invites.decline_runs(),
        ),
        gauge(
            "invite-hosts",
            "Hosts whose invitations of the last hour are counted (at most 1,000,000)",
            ctx.invites.hosts_counted(),
        ),
        count(
            "invite-hosts-untracked",
            "Invites refused because no more hosts could be counted",
            ctx.invites.hosts_untracked.get(),
        ),
        count(
            "decline-runs-untracked",
            "Runs of declines not tracked at the cap",
            ctx.invites.declines_untracked,
        ),
        gauge(
            "disclosures-pending",
            "Disclosure records waiting to be written (at most 65,536)",
            ctx.audit.pending().count(),
        ),
        count(
            "disclosures-written",
            "Disclosure records written since start",
            ctx.audit.written,
        ),
        count(
            "disclosures-refused",
            "Answers refused: their disclosure could not be recorded",
            stats.disclosures_refused,
        ),
        text(
            "consent-policy",
            "Consent policy",
            ctx.consent.policy().as_str().to_owned(),
        ),
    ];
    readings.extend(http_readings(&health.http));
    readings.extend(ops_readings(&health.http));
    Ok(readings)
}

fn count(var: &'static str, label: &'static str, value: impl TryInto<u64>) -> Reading {
    Reading {
        var,
        label,
        value: Value::Count(value.try_into().unwrap_or(u64::MAX)),
    }
}

fn gauge(var: &'static str, label: &'static str, value: impl TryInto<u64>) -> Reading {
    Reading {
        var,
        label,
        value: Value::Gauge(value.try_into().unwrap_or(u64::MAX)),
    }
}

fn text(var: &'static str, label: &'static str, value: String) -> Reading {
    Reading {
        var,
        label,
        value: Value::Text(value),
    }
}

/// The operator's listener's counters, where it listens.
fn ops_readings(http: &HttpStats) -> Vec<Reading> {
    if !http
        .ops_listening
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Vec::new();
    }
    vec![
        count(
            "ops-requests",
            "Requests to the metrics and health listener",
            HttpStats::read(&http.ops_requests),
        ),
        count(
            "ops-connections-refused",
            "Connections to the metrics and health listener refused at its cap (64)",
            HttpStats::read(&http.ops_connections_refused),
        ),
    ]
}

/// The HTTP front door's counters, where it listens.
fn http_readings(http: &HttpStats) -> Vec<Reading> {
    if !http.listening.load(std::sync::atomic::Ordering::Relaxed) {
        return Vec::new();
    }
    let read = HttpStats::read;
    vec![
        gauge(
            "http-connections-open",
            "HTTP connections open (at most http.max_connections)",
            read(&http.connections_open),
        ),
        count(
            "http-connections-refused",
            "HTTP connections refused at the cap (answered 503)",
            read(&http.connections_refused),
        ),
        count("http-requests", "HTTP requests read", read(&http.requests)),
        count(
            "http-answered",
            "HTTP requests answered (2xx)",
            read(&http.answered),
        ),
        count(
            "http-refused",
            "HTTP requests refused (4xx)",
            read(&http.refused),
        ),
        count(
            "http-failed",
            "HTTP requests failed (5xx)",
            read(&http.failed),
        ),
        count(
            "http-bodies-too-large",
            "HTTP bodies over http.max_body_kib (answered 413)",
            read(&http.bodies_too_large),
        ),
        count(
            "http-slow-bodies",
            "HTTP bodies not sent within http.body_timeout_secs (answered 408)",
            read(&http.slow_bodies),
        ),
        gauge(
            "http-waiting",
            "HTTP requests waiting for an answer (at most one per connection)",
            read(&http.waiting),
        ),
        count(
            "webhook-delivered",
            "News events webhooks took",
            read(&http.webhook_delivered),
        ),
        count(
            "webhook-attempts-failed",
            "Webhook attempts failed (each tried again later)",
            read(&http.webhook_attempts_failed),
        ),
        count(
            "webhook-given-up",
            "News events given up after 24 hours of attempts",
            read(&http.webhook_given_up),
        ),
        count(
            "news-pruned",
            "News events pruned (after 7 days, or past 100,000 for a platform)",
            read(&http.news_pruned),
        ),
        gauge(
            "http-streams-open",
            "Event streams open",
            read(&http.streams_open),
        ),
        count(
            "privacy-pages-opened",
            "Privacy pages opened from their links",
            read(&http.pages_opened),
        ),
        gauge(
            "privacy-pages-held",
            "Privacy page sessions held (at most 10,000; expired ones pruned at the cap)",
            read(&http.pages_held),
        ),
        count(
            "privacy-links-refused",
            "Privacy page links refused (used, expired, unknown, or at 10,000 pages open)",
            read(&http.page_links_refused),
        ),
        count(
            "privacy-page-changes",
            "Changes made on privacy pages",
            read(&http.page_changes),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::Bench;
    use std::str::FromStr;

    #[test]
    fn tells_the_operator_the_schema_and_the_counters() {
        let bench = Bench::new();
        let operator = Operator {
            jid: xmpp_parsers::jid::Jid::from_str("admin@example.test/console").unwrap(),
        };
        let ran = bench.run::<Stats>(&operator, &[]);
        assert_eq!(
            ran.field("schema-version"),
            [crate::store::SCHEMA_VERSION.to_string()]
        );
        assert!(
            ran.summary().contains("commands served"),
            "{}",
            ran.summary()
        );
    }
}
