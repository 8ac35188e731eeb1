//! `/metrics`: every figure of `stats` and the bridge's histograms, in the OpenMetrics
//! text format (to a scraper that asks for it, as Prometheus does) or Prometheus' text
//! format 0.0.4 (to anyone else, such as `curl` and `promtool check metrics`).
//!
//! Names follow Prometheus' rules: `xmpp_game_bridge_` and the `stats` name in snake
//! case; counters end in `_total`; units (`_seconds`, `_bytes`) in the name. Labels are
//! the bridge's own names only (a front door, a command node, an outcome, why it waited
//! for the server): never a JID, nor anything else a request chose, so their number is
//! bounded by the code.

use std::fmt::Write;

use crate::health::histogram::Buckets;
use crate::health::{Histograms, Snapshot, Value, Wait};

/// The prefix of every name.
const PREFIX: &str = "xmpp_game_bridge_";

/// Content types of the two formats.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a scraper's `Accept` asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&[u8]>) -> bool {
    accept
        .and_then(|a| std::str::from_utf8(a).ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The name `/metrics` gives a figure of `stats`, without `_total`.
pub fn name(var: &str) -> String {
    let base = match var {
        "uptime" => "uptime_seconds",
        "link-since" => "link_state_seconds",
        "storage-failing-since" => "storage_failing_seconds",
        other => other,
    };
    format!("{PREFIX}{}", base.replace('-', "_"))
}

/// The exposition: figures, readiness, histograms.
pub fn render(snapshot: &Snapshot, histograms: &Histograms, openmetrics: bool) -> String {
    let mut out = Exposition {
        text: String::with_capacity(16 * 1024),
        openmetrics,
    };
    for reading in &snapshot.readings {
        match &reading.value {
            Value::Count(n) => out.counter(&name(reading.var), reading.label, *n),
            Value::Gauge(n) => out.gauge(&name(reading.var), reading.label, &[], *n),
            Value::Text(text) => match reading.var {
                "version" => out.gauge(
                    &format!("{PREFIX}build_info"),
                    "The bridge's version (the value is always 1)",
                    &[("version", text)],
                    1,
                ),
                "link" => out.gauge(
                    &format!("{PREFIX}link_up"),
                    "Whether the link to the server is up (1) or down (0)",
                    &[],
                    u64::from(text == "up"),
                ),
                "route" => out.gauge(
                    &format!("{PREFIX}route_shared"),
                    "Whether the server sends part of the component's stanzas to another connection (1), where they are lost",
                    &[],
                    u64::from(text != crate::commands::stats::ROUTE_ALONE),
                ),
                "consent-policy" => out.gauge(
                    &format!("{PREFIX}consent_policy_info"),
                    "The consent policy (privacy.consent; the value is always 1)",
                    &[("policy", text)],
                    1,
                ),
                // The others have a number of their own (the database: its failing
                // seconds).
                _ => {}
            },
        }
    }
    out.gauge(
        &format!("{PREFIX}ready"),
        "Whether the bridge can serve (1): link up, grants in, the component's stanzas all reaching it, database writable; /readyz says why not",
        &[],
        u64::from(snapshot.unready.is_empty()),
    );
    leader(&mut out, true);
    let answers = histograms.answers();
    out.histogram_head(
        &format!("{PREFIX}answer_seconds"),
        "Time from a request's arrival at the core to its answer leaving it, by front door, command node and outcome",
    );
    for ((door, node, outcome), buckets) in &answers {
        out.histogram_samples(
            &format!("{PREFIX}answer_seconds"),
            &[("door", door), ("node", node), ("outcome", outcome)],
            buckets,
            1e-6,
        );
    }
    out.histogram_head(
        &format!("{PREFIX}server_wait_seconds"),
        "Time the bridge waited for the server's reply to an IQ it sent, by what it asked",
    );
    for wait in Wait::ALL {
        out.histogram_samples(
            &format!("{PREFIX}server_wait_seconds"),
            &[("purpose", wait.label())],
            &histograms.server_wait(wait).read(),
            1e-6,
        );
    }
    out.histogram_head(
        &format!("{PREFIX}presence_updates_per_second"),
        "Presence updates from the server in each second since start (one observation per second)",
    );
    out.histogram_samples(
        &format!("{PREFIX}presence_updates_per_second"),
        &[],
        &histograms.presence.read(),
        1.0,
    );
    out.histogram_head(
        &format!("{PREFIX}webhook_attempt_seconds"),
        "Time of each webhook delivery attempt, by outcome",
    );
    for (outcome, histogram) in [
        ("delivered", &histograms.webhook_delivered),
        ("failed", &histograms.webhook_failed),
    ] {
        out.histogram_samples(
            &format!("{PREFIX}webhook_attempt_seconds"),
            &[("outcome", outcome)],
            &histogram.read(),
            1e-6,
        );
    }
    process(&mut out);
    if openmetrics {
        out.text.push_str("# EOF\n");
    }
    out.text
}

/// The exposition of a standby bridge: it is no leader, and its process.
pub fn standby(openmetrics: bool) -> String {
    let mut out = Exposition {
        text: String::with_capacity(2 * 1024),
        openmetrics,
    };
    leader(&mut out, false);
    out.gauge(
        &format!("{PREFIX}ready"),
        "Whether the bridge can serve (1): link up, grants in, the component's stanzas all reaching it, database writable; /readyz says why not",
        &[],
        0,
    );
    process(&mut out);
    if openmetrics {
        out.text.push_str("# EOF\n");
    }
    out.text
}

fn leader(out: &mut Exposition, leader: bool) {
    out.gauge(
        &format!("{PREFIX}leader"),
        "Whether this bridge holds the lease and serves (1) or waits as a standby (0)",
        &[],
        u64::from(leader),
    );
}

/// The process's own figures, named as Prometheus' client libraries name them, read
/// from `/proc/self` (left out where there is none).
fn process(out: &mut Exposition) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // The fields after the command's name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
    // sysconf(_SC_CLK_TCK) and the page size are 100 and 4096 on Linux's ABIs we run on.
    const TICKS: f64 = 100.0;
    const PAGE: u64 = 4096;
    if let (Some(user), Some(system)) = (field(11), field(12)) {
        let seconds = (user + system) as f64 / TICKS;
        let help = "CPU time used by the process, user and system";
        if out.openmetrics {
            out.head("process_cpu_seconds", "counter", help);
        } else {
            out.head("process_cpu_seconds_total", "counter", help);
        }
        let _ = writeln!(out.text, "process_cpu_seconds_total {}", float(seconds));
    }
    if let Some(rss) = field(21) {
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            &[],
            rss.saturating_mul(PAGE),
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.gauge(
            "process_open_fds",
            "File descriptors the process holds open",
            &[],
            fds.count() as u64,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(19)) {
        out.gauge(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch",
            &[],
            boot + start / 100,
        );
    }
}

struct Exposition {
    text: String,
    openmetrics: bool,
}

impl Exposition {
    fn head(&mut self, family: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {family} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {family} {kind}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        // OpenMetrics names the family without `_total`; the text format names it as
        // its sample.
        if self.openmetrics {
            self.head(name, "counter", help);
        } else {
            self.head(&format!("{name}_total"), "counter", help);
        }
        let _ = writeln!(self.text, "{name}_total {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.head(name, "gauge", help);
        let _ = writeln!(self.text, "{name}{} {value}", labels_text(labels, None));
    }

    fn histogram_head(&mut self, name: &str, help: &str) {
        self.head(name, "histogram", help);
    }

    /// One histogram's samples; `scale` turns its whole units into the exported ones.
    fn histogram_samples(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &Buckets,
        scale: f64,
    ) {
        for (bound, count) in buckets.bounds.iter().zip(&buckets.cumulative) {
            let le = float(*bound as f64 * scale);
            let _ = writeln!(
                self.text,
                "{name}_bucket{} {count}",
                labels_text(labels, Some(&le))
            );
        }
        let _ = writeln!(
            self.text,
            "{name}_bucket{} {}",
            labels_text(labels, Some("+Inf")),
            buckets.count
        );
        let plain = labels_text(labels, None);
        let _ = writeln!(self.text, "{name}_count{plain} {}", buckets.count);
        let _ = writeln!(
            self.text,
            "{name}_sum{plain} {}",
            float(buckets.sum as f64 * scale)
        );
    }
}

/// A float as both formats read it: `1.0`, `0.0005`.
fn float(value: f64) -> String {
    // Rounded to the microsecond, so that 0.0005 is not written 0.0005000000000000001.
    let value = (value * 1e6).round() / 1e6;
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

fn labels_text(labels: &[(&str, &str)], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Reading;

    fn snapshot() -> Snapshot {
        Snapshot {
            readings: vec![
                Reading {
                    var: "version",
                    label: "Version",
                    value: Value::Text("0.1.0".to_owned()),
                },
                Reading {
                    var: "uptime",
                    label: "Uptime (seconds)",
                    value: Value::Gauge(12),
                },
                Reading {
                    var: "stanzas-in",
                    label: "Stanzas received",
                    value: Value::Count(7),
                },
                Reading {
                    var: "link",
                    label: "Link",
                    value: Value::Text("up".to_owned()),
                },
                Reading {
                    var: "route",
                    label: "The component's stanzas reach",
                    value: Value::Text(crate::commands::stats::ROUTE_ALONE.to_owned()),
                },
            ],
            unready: Vec::new(),
        }
    }

    #[test]
    fn counters_end_in_total_in_both_formats() {
        let histograms = Histograms::default();
        let text = render(&snapshot(), &histograms, false);
        assert!(text.contains("# TYPE xmpp_game_bridge_stanzas_in_total counter\n"));
        assert!(text.contains("\nxmpp_game_bridge_stanzas_in_total 7\n"));
        assert!(!text.contains("# EOF"));
        let open = render(&snapshot(), &histograms, true);
        assert!(open.contains("# TYPE xmpp_game_bridge_stanzas_in counter\n"));
        assert!(open.contains("\nxmpp_game_bridge_stanzas_in_total 7\n"));
        assert!(open.ends_with("# EOF\n"));
        assert!(open.contains("xmpp_game_bridge_uptime_seconds 12\n"));
        assert!(open.contains("xmpp_game_bridge_link_up 1\n"));
        assert!(open.contains("xmpp_game_bridge_route_shared 0\n"));
        assert!(open.contains("xmpp_game_bridge_build_info{version=\"0.1.0\"} 1\n"));
        assert!(open.contains("xmpp_game_bridge_ready 1\n"));
        assert!(open.contains("\nprocess_resident_memory_bytes "), "{open}");
        assert!(open.contains("\nprocess_cpu_seconds_total "), "{open}");
    }

    #[test]
    fn an_answer_latency_is_in_its_bucket_by_door_node_and_outcome() {
        let histograms = Histograms::default();
        histograms.answered([(
            ("http", "peers", "answered"),
            std::time::Duration::from_millis(3),
        )]);
        let text = render(&snapshot(), &histograms, false);
        let labels = "door=\"http\",node=\"peers\",outcome=\"answered\"";
        assert!(text.contains(&format!(
            "xmpp_game_bridge_answer_seconds_bucket{{{labels},le=\"0.0025\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "xmpp_game_bridge_answer_seconds_bucket{{{labels},le=\"0.005\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "xmpp_game_bridge_answer_seconds_bucket{{{labels},le=\"+Inf\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "xmpp_game_bridge_answer_seconds_sum{{{labels}}} 0.003\n"
        )));
    }

    #[test]
    fn openmetrics_is_asked_for_by_accept() {
        assert!(wants_openmetrics(Some(
            b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(Some(b"*/*")));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn floats_are_written_as_both_formats_read_them() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.0005), "0.0005");
        assert_eq!(float(500.0 * 1e-6), "0.0005");
        assert_eq!(float(0.0), "0.0");
    }
}
