//! Tracing setup: human-readable lines or JSON objects, one per line, on standard error.
//!
//! Raw XML is logged only at `trace`. Secrets are never logged: the config keeps the
//! secret in a type whose `Debug` output is redacted.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogLevel};

pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    // Our own crate at the chosen level; libraries one notch quieter unless tracing.
    let libraries = if level == LevelFilter::TRACE {
        LevelFilter::TRACE
    } else {
        LevelFilter::WARN
    };
    let filter = Targets::new()
        .with_target("xmpp_game_bridge", level)
        .with_default(libraries);
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
    let _ = result;
}
