//! Tracing setup: human-readable lines or JSON objects, one per line, on standard error.
//!
//! Raw XML is logged only at `trace`. Secrets are never logged: the config keeps the
//! secret in a type whose `Debug` output is redacted.

use serde::Deserialize;
use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

/// Changes the log level while the bridge runs (a reload).
pub struct LogControl(Option<reload::Handle<Targets, Registry>>);

impl LogControl {
    /// Sets the level from now on; false if logging was set up elsewhere (tests).
    pub fn set_level(&self, level: LogLevel) -> bool {
        self.0
            .as_ref()
            .is_some_and(|handle| handle.reload(filter(level)).is_ok())
    }
}

/// Our own crate at the chosen level; libraries one notch quieter unless tracing.
fn filter(level: LogLevel) -> Targets {
    let level = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let libraries = if level == LevelFilter::TRACE {
        LevelFilter::TRACE
    } else {
        LevelFilter::WARN
    };
    Targets::new()
        .with_target("xmpp_game_bridge", level)
        .with_default(libraries)
}

pub fn init(level: LogLevel, format: LogFormat) -> LogControl {
    let (filter, handle) = reload::Layer::new(filter(level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(true),
            )
            .try_init(),
    };
    // Already initialised (tests, or a second call): keep the first.
    LogControl(result.is_ok().then_some(handle))
}

/// At most one log line per interval for events that outside input can repeat at will
/// (malformed stanzas, oversized ones): the others are counted, and the count goes out
/// with the next line, so a flood cannot fill the disk through the log.
#[derive(Debug)]
pub struct Throttle {
    interval: std::time::Duration,
    last: Option<std::time::SystemTime>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(interval: std::time::Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(lines suppressed since the last one)` when a line may be logged now.
    pub fn allow(&mut self, now: std::time::SystemTime) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last).unwrap_or_default() < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn one_line_per_interval_and_the_count_of_the_rest() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut throttle = Throttle::new(Duration::from_secs(10));
        assert_eq!(throttle.allow(t(0)), Some(0));
        assert_eq!(throttle.allow(t(1)), None);
        assert_eq!(throttle.allow(t(9)), None);
        assert_eq!(throttle.allow(t(10)), Some(2));
    }
}

/// How much the component logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// Log lines for people (`human`) or for a log pipeline (`json`, one object per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}
