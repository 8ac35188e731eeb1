//! The `xmpp-game-bridge` binary: arguments → config → tracing → run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Replies are trees of many small XML elements; mimalloc makes building them about 40%
/// faster than the system allocator (see `benches/directory.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use xmpp_game_bridge::config::Config;
use xmpp_game_bridge::{daemon, logging};

#[derive(Parser)]
#[command(
    name = "xmpp-game-bridge",
    version,
    about = "XMPP component that connects game platforms with chat users"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Connect to the server and serve until SIGTERM or Ctrl-C.
    Run {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check the configuration file (and that the secret can be read), then exit.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => {
                println!(
                    "{}: valid; component {} on {}:{} serving {}",
                    config.display(),
                    c.component_jid,
                    c.server_host,
                    c.server_port,
                    c.domains
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for warning in c.warnings() {
                    println!("warning: {warning}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xmpp-game-bridge: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Run { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("xmpp-game-bridge: {e}");
                    return ExitCode::from(2);
                }
            };
            logging::init(config.log_level, config.log_format);
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("xmpp-game-bridge: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(daemon::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    match e {
                        // The server and this config disagree: restarting cannot help.
                        daemon::RunError::Link(_) => ExitCode::from(3),
                        _ => ExitCode::FAILURE,
                    }
                }
            }
        }
    }
}
