//! `stats`: the operator's view of the bridge (uptime, link, counters). Single step.

use crate::rights::Operator;
use std::time::{Duration, SystemTime};

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::{Ctx, Flow, NoInput, Node};
use crate::failure::Failure;
use crate::health::{HttpStats, Link};

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
    counters: Vec<(&'static str, &'static str, String)>,
    servers: Vec<String>,
}

impl Answer for StatsAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Game bridge statistics");
        for (var, label, value) in &self.counters {
            out.named_field(var, label, FieldType::TextSingle, value);
        }
        out.fields(&SERVERS, &self.servers);
    }

    fn summary(&self) -> String {
        let value = |var: &str| {
            self.counters
                .iter()
                .find(|(v, _, _)| *v == var)
                .map_or("", |(_, _, value)| value.as_str())
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
    let schema = ctx.store.schema_version().map_err(|e| {
        tracing::error!(error = %e, "cannot read the schema version");
        Failure::internal()
    })?;
    let stats = &health.stats;
    let directory = ctx.directory;
    let queue = ctx.health.link_queue.get();
    let counters: [(&str, &str, String); 54] = [
        ("version", "Version", env!("CARGO_PKG_VERSION").to_owned()),
        (
            "uptime",
            "Uptime (seconds)",
            since(health.started_at).to_string(),
        ),
        ("link", "Link to the server", link.to_owned()),
        (
            "link-since",
            "Link state unchanged for (seconds)",
            link_since.to_string(),
        ),
        (
            "reconnects",
            "Reconnections",
            stats.reconnects().to_string(),
        ),
        // Counted before this request is answered, so it includes the request itself.
        (
            "commands-served",
            "Commands served",
            (stats.commands_served + 1).to_string(),
        ),
        (
            "stanzas-in",
            "Stanzas received",
            stats.stanzas_in.to_string(),
        ),
        ("stanzas-out", "Stanzas sent", stats.stanzas_out.to_string()),
        (
            "stanzas-dropped",
            "Stanzas dropped as malformed",
            stats.stanzas_dropped.to_string(),
        ),
        (
            "stanzas-skipped",
            "Stanzas skipped as too large or too deep",
            stats.stanzas_skipped.to_string(),
        ),
        (
            "stanzas-oversized",
            "Stanzas of the bridge's over the size limit",
            stats.stanzas_oversized.to_string(),
        ),
        (
            "storage",
            "Database",
            match health.storage_failing_since {
                None => "ok".to_owned(),
                Some(t) => format!("writes failing for {} s", since(t)),
            },
        ),
        (
            "storage-writes",
            "Database transactions committed",
            stats.storage_writes.to_string(),
        ),
        (
            "storage-failures",
            "Database writes failed (retried)",
            stats.storage_failures.to_string(),
        ),
        (
            "pending-writes",
            "Last-seen times waiting to be written",
            directory.pending_last_seen().to_string(),
        ),
        (
            "remote-presences-dropped",
            "Presences of unlisted users of other servers not kept",
            directory.remote_dropped.to_string(),
        ),
        (
            "resources-evicted",
            "Resources forgotten at the per-user cap",
            directory.resources_evicted.to_string(),
        ),
        (
            "requests-refused-busy",
            "Requests refused: a cap or a rate reached",
            stats.requests_refused_busy.to_string(),
        ),
        (
            "requests-rate-limited",
            "Requests refused: requester over its rate",
            stats.requests_rate_limited.to_string(),
        ),
        (
            "rosters-fetching",
            "Rosters being fetched",
            stats.rosters_fetching.to_string(),
        ),
        (
            "presence-checks-pending",
            "Pings out to confirm devices",
            stats.presence_checks_pending.to_string(),
        ),
        (
            "requests-waiting",
            "Requests waiting for rosters or pings",
            stats.requests_waiting.to_string(),
        ),
        (
            "presence-checks",
            "Pings sent to confirm devices",
            stats.presence_checks.to_string(),
        ),
        (
            "departures-found",
            "Devices the server said were gone",
            stats.departures_found.to_string(),
        ),
        (
            "sessions-live",
            "Command sessions open",
            stats.sessions_live.to_string(),
        ),
        (
            "iqs-pending",
            "IQs awaiting a reply",
            stats.iqs_pending.to_string(),
        ),
        (
            "requesters-tracked",
            "Requesters whose rate is tracked",
            stats.requesters_tracked.to_string(),
        ),
        (
            "schema-version",
            "Database schema version",
            schema.to_string(),
        ),
        (
            "online-resources",
            "Online resources",
            directory.online_resources().to_string(),
        ),
        (
            "names-known",
            "Bare JIDs held by the directory",
            directory.interned().to_string(),
        ),
        (
            "rosters-cached",
            "Rosters cached",
            directory.rosters.len().to_string(),
        ),
        (
            "roster-cache-bytes",
            "Roster cache size (bytes)",
            directory.rosters.used_bytes().to_string(),
        ),
        (
            "platforms-registered",
            "Platforms in the registry",
            ctx.registry.len().to_string(),
        ),
        (
            "send-queue-bytes",
            "Bytes waiting to be sent to the server (at most 16 MiB, then sent past the window)",
            queue.queued_bytes.to_string(),
        ),
        (
            "send-queue-requesters",
            "Destinations with stanzas waiting, served in turns",
            queue.lanes.to_string(),
        ),
        (
            "send-in-flight-bytes",
            "Sent, not yet confirmed processed by the server (bytes, and 768 a stanza)",
            queue.in_flight.to_string(),
        ),
        (
            "send-window-bytes",
            "What may be in flight now (bytes, and 768 a stanza; adapts to the server)",
            queue.window.to_string(),
        ),
        (
            "send-markers",
            "Markers (pings to the server) sent to learn what it processed",
            queue.marks_sent.to_string(),
        ),
        (
            "send-queue-overflows",
            "Writes made past the window because the send queue was full",
            queue.overflows.to_string(),
        ),
        (
            "platforms-unregistered",
            "Platforms outside the registry that asked (at most 1,000)",
            ctx.askers.len().to_string(),
        ),
        (
            "platforms-unregistered-forgotten",
            "Platforms outside the registry forgotten at the cap",
            ctx.askers.forgotten.to_string(),
        ),
        (
            "consent-records",
            "Users with privacy choices (at most 1,000,000)",
            ctx.consent.len().to_string(),
        ),
        (
            "self-statuses",
            "Self-defined statuses (at most 1,000,000)",
            ctx.self_status.len().to_string(),
        ),
        (
            "prompts-waiting",
            "Questions waiting for users' answers (at most 100,000)",
            ctx.prompts.len().to_string(),
        ),
        (
            "invites-open",
            "Invites that may still change (at most 100,000)",
            ctx.invites.len().to_string(),
        ),
        (
            "mutes",
            "Invitation mutes (at most 1,000,000)",
            ctx.mutes.len().to_string(),
        ),
        (
            "decline-runs",
            "Invitees' runs of declines of one host, for the cooldown (at most 1,000,000)",
            ctx.invites.decline_runs().to_string(),
        ),
        (
            "invite-hosts",
            "Hosts whose invitations of the last hour are counted (at most 1,000,000)",
            ctx.invites.hosts_counted().to_string(),
        ),
        (
            "invite-hosts-untracked",
            "Invites refused because no more hosts could be counted",
            ctx.invites.hosts_untracked.get().to_string(),
        ),
        (
            "decline-runs-untracked",
            "Runs of declines not tracked at the cap",
            ctx.invites.declines_untracked.to_string(),
        ),
        (
            "disclosures-pending",
            "Disclosure records waiting to be written (at most 65,536)",
            ctx.audit.pending().len().to_string(),
        ),
        (
            "disclosures-written",
            "Disclosure records written since start",
            ctx.audit.written.to_string(),
        ),
        (
            "disclosures-refused",
            "Answers refused: their disclosure could not be recorded",
            stats.disclosures_refused.to_string(),
        ),
        (
            "consent-policy",
            "Consent policy",
            ctx.consent.policy().as_str().to_owned(),
        ),
    ];
    let servers: Vec<String> = directory
        .domains
        .iter()
        .filter_map(|d| d.software.as_ref().map(|s| format!("{}: {s}", d.jid)))
        .collect();
    let mut counters: Vec<_> = counters.into();
    counters.extend(http_counters(&health.http));
    Flow::done(StatsAnswer { counters, servers })
}

/// The HTTP front door's counters, where it listens.
fn http_counters(http: &HttpStats) -> Vec<(&'static str, &'static str, String)> {
    if !http.listening.load(std::sync::atomic::Ordering::Relaxed) {
        return Vec::new();
    }
    let read = |counter| HttpStats::read(counter).to_string();
    vec![
        (
            "http-connections-open",
            "HTTP connections open (at most http.max_connections)",
            read(&http.connections_open),
        ),
        (
            "http-connections-refused",
            "HTTP connections refused at the cap (answered 503)",
            read(&http.connections_refused),
        ),
        ("http-requests", "HTTP requests read", read(&http.requests)),
        (
            "http-answered",
            "HTTP requests answered (2xx)",
            read(&http.answered),
        ),
        (
            "http-refused",
            "HTTP requests refused (4xx)",
            read(&http.refused),
        ),
        (
            "http-failed",
            "HTTP requests failed (5xx)",
            read(&http.failed),
        ),
        (
            "http-bodies-too-large",
            "HTTP bodies over http.max_body_kib (answered 413)",
            read(&http.bodies_too_large),
        ),
        (
            "http-slow-bodies",
            "HTTP bodies not sent within http.body_timeout_secs (answered 408)",
            read(&http.slow_bodies),
        ),
        (
            "http-waiting",
            "HTTP requests waiting for an answer (at most one per connection)",
            read(&http.waiting),
        ),
        (
            "webhook-delivered",
            "News events webhooks took",
            read(&http.webhook_delivered),
        ),
        (
            "webhook-attempts-failed",
            "Webhook attempts failed (each tried again later)",
            read(&http.webhook_attempts_failed),
        ),
        (
            "webhook-given-up",
            "News events given up after 24 hours of attempts",
            read(&http.webhook_given_up),
        ),
        (
            "news-pruned",
            "News events pruned (after 7 days, or past 100,000 for a platform)",
            read(&http.news_pruned),
        ),
        (
            "http-streams-open",
            "Event streams open",
            read(&http.streams_open),
        ),
        (
            "privacy-pages-opened",
            "Privacy pages opened from their links",
            read(&http.pages_opened),
        ),
        (
            "privacy-pages-held",
            "Privacy page sessions held (at most 10,000; expired ones pruned at the cap)",
            read(&http.pages_held),
        ),
        (
            "privacy-links-refused",
            "Privacy page links refused (used, expired, unknown, or at 10,000 pages open)",
            read(&http.page_links_refused),
        ),
        (
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
