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
    /// Check the configuration against the server it names, as the bridge would meet it:
    /// port and secret, software, grants, recommended settings, database, listeners.
    /// Links without staying. Exit status 1 when something would keep the bridge from
    /// serving (each such line says its fix), 2 when the file itself is invalid.
    Doctor {
        #[arg(long, short)]
        config: PathBuf,
        /// The chat server's configuration file (default: /etc/prosody/prosody.cfg.lua or
        /// /etc/ejabberd/ejabberd.yml, by the software the server says it runs).
        #[arg(long)]
        server_config: Option<PathBuf>,
    },
    /// List the record of what platforms learnt about users and did for them, newest first.
    Audit {
        #[arg(long, short)]
        config: PathBuf,
        /// Only about this user (bare JID).
        #[arg(long)]
        user: Option<String>,
        /// Only by this platform (bare JID).
        #[arg(long)]
        platform: Option<String>,
        /// Only since this time: 2026-11-28, 2026-11-28T12:00:00Z, or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Copy the state of a SQLite database ([storage] path) into an empty PostgreSQL
    /// database, and check the copy: the rows and a checksum of each table, on both
    /// sides. The SQLite file is only read. Stop the bridge for the copy that counts: what
    /// it writes afterwards is not copied. Exit status 1 when the copy was refused or
    /// differs.
    MigrateStorage {
        /// The SQLite database file.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database: postgres://USER@HOST:PORT/DATABASE (the password in
        /// the URL, or in PGPASSWORD).
        #[arg(long)]
        to: String,
    },
    /// Manage the registry of game platforms (works while the bridge runs).
    Platform {
        /// The TOML configuration file (its storage.path or storage.url names the database); before or
        /// after the action.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: PlatformCmd,
    },
}

#[derive(Subcommand)]
enum PlatformCmd {
    /// Register a platform by its bare JID.
    Add {
        jid: String,
        /// The name users read (default: the JID's local part).
        #[arg(long)]
        name: Option<String>,
        /// Register it as unauthorized (by default platforms you add are authorized).
        #[arg(long)]
        unauthorized: bool,
        /// Its rights, comma-separated (default: the defaults of its kind).
        #[arg(long)]
        rights: Option<String>,
        /// Served domains it may ask about, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        domains: Vec<String>,
        /// URI schemes its "launch" may use, comma-separated (default: none).
        #[arg(long, value_delimiter = ',')]
        launch_schemes: Vec<String>,
        /// The shape of its answers unless a request asks for another: "form" (default)
        /// or "compact".
        #[arg(long)]
        answers: Option<String>,
        /// The front doors it may ask through: "xmpp", "http" or "xmpp,http" (default).
        #[arg(long)]
        doors: Option<String>,
    },
    /// List the registered platforms.
    List,
    /// Show one platform and its tokens' ids.
    Show { jid: String },
    /// Remove a platform and its tokens.
    Remove { jid: String },
    /// Set a platform's rights: a comma-separated list, "none" or "default".
    SetRights { jid: String, rights: String },
    /// Set the URI schemes a platform's "launch" may use: a comma-separated list, or "none".
    SetLaunchSchemes { jid: String, schemes: String },
    /// Set the shape of a platform's answers unless a request asks for another: "form"
    /// or "compact".
    SetAnswers { jid: String, answers: String },
    /// Set the front doors a platform may ask through: "xmpp", "http", "xmpp,http" or
    /// "default" (both).
    SetDoors { jid: String, doors: String },
    /// Set where a platform's news (answers and outcomes of what it started over HTTP) are
    /// delivered: an https URL (http only to hosts in http.webhook_allow), or "none". A
    /// new signing secret is shown once.
    SetWebhook { jid: String, url: String },
    /// Show a platform's latest news events and how their delivery went.
    Deliveries {
        jid: String,
        /// How many, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Make a token for a platform; it is shown once.
    NewToken { jid: String },
    /// Revoke a token by its id (or the whole token).
    RevokeToken { id: String },
}

/// The database the configuration at `config` names, or the exit code saying why not.
fn open_store(config: &std::path::Path) -> Result<xmpp_game_bridge::store::Store, ExitCode> {
    // The database is all these commands touch: the secret is not read.
    let config = Config::load_without_secret(config).map_err(|e| {
        eprintln!("xmpp-game-bridge: {e}");
        ExitCode::from(2)
    })?;
    xmpp_game_bridge::store::Store::open_at(&config.storage).map_err(|e| {
        eprintln!("xmpp-game-bridge: {e}");
        ExitCode::FAILURE
    })
}

/// Prints an admin command's outcome.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(text) => {
            eprintln!("xmpp-game-bridge: {text}");
            ExitCode::FAILURE
        }
    }
}

fn platform(config: &std::path::Path, action: PlatformCmd) -> ExitCode {
    use xmpp_game_bridge::admin;
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let result = match action {
        PlatformCmd::Add {
            jid,
            name,
            unauthorized,
            rights,
            domains,
            launch_schemes,
            answers,
            doors,
        } => admin::add(
            &store,
            &admin::NewPlatform {
                jid,
                name,
                authorized: !unauthorized,
                rights,
                domains,
                launch_schemes,
                answers,
                doors,
            },
        ),
        PlatformCmd::List => admin::list(&store),
        PlatformCmd::Show { jid } => admin::show(&store, &jid),
        PlatformCmd::Remove { jid } => admin::remove(&store, &jid),
        PlatformCmd::SetRights { jid, rights } => admin::set_rights(&store, &jid, &rights),
        PlatformCmd::SetLaunchSchemes { jid, schemes } => {
            admin::set_launch_schemes(&store, &jid, &schemes)
        }
        PlatformCmd::SetAnswers { jid, answers } => admin::set_answers(&store, &jid, &answers),
        PlatformCmd::SetDoors { jid, doors } => admin::set_doors(&store, &jid, &doors),
        PlatformCmd::SetWebhook { jid, url } => admin::set_webhook(&store, &jid, &url),
        PlatformCmd::Deliveries { jid, limit } => admin::deliveries(&store, &jid, limit),
        PlatformCmd::NewToken { jid } => admin::new_token(&store, &jid),
        PlatformCmd::RevokeToken { id } => admin::revoke_token(&store, &id),
    };
    report(result)
}

/// The async runtime: one thread.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("xmpp-game-bridge: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Copies a SQLite database into PostgreSQL and says how each table compares.
fn migrate_storage(from: &std::path::Path, to: &str) -> ExitCode {
    use xmpp_game_bridge::store::copy;
    let shown = xmpp_game_bridge::store::db::redact(to);
    let compared = match copy::sqlite_to_postgres(from, to) {
        Ok(compared) => compared,
        Err(e) => {
            eprintln!("xmpp-game-bridge: nothing was copied: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<15} {:>10} {:>12}  {:<16}  {:<16}",
        "table", "rows", "copied", "checksum", "copy's checksum"
    );
    for c in &compared {
        println!(
            "{:<15} {:>10} {:>12}  {:<16}  {:<16}{}",
            c.table,
            c.source_rows,
            c.target_rows,
            c.source_sum,
            c.target_sum,
            if c.same() { "" } else { "  DIFFERS" }
        );
    }
    let rows: usize = compared.iter().map(|c| c.source_rows).sum();
    match compared.iter().find(|c| !c.same()) {
        None => {
            println!(
                "{} copied into {shown} and checked: {} tables, {rows} rows, every count and checksum the same. Set [storage] url to it and start the bridge.",
                from.display(),
                compared.len()
            );
            ExitCode::SUCCESS
        }
        Some(c) => {
            eprintln!(
                "xmpp-game-bridge: the copy differs from {} in {} (did a bridge write to it meanwhile? stop it, empty the PostgreSQL database and copy again)",
                from.display(),
                c.table
            );
            ExitCode::FAILURE
        }
    }
}

fn doctor(config: &std::path::Path, server_config: Option<PathBuf>) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let options = xmpp_game_bridge::doctor::Options { server_config };
    match runtime.block_on(xmpp_game_bridge::doctor::examine(config, &options)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::from(report.exit_code())
        }
        Err(report) => {
            println!("{report}");
            ExitCode::from(2)
        }
    }
}

/// mimalloc asks the kernel for transparent huge pages, which Debian's kernels then grant
/// (`madvise`): the first touch of each 2 MiB of its arenas zeroes all of it, though the
/// bridge's tables grow a few kilobytes at a time. Without them the idle bridge holds 14
/// MiB instead of 18, 41 MiB instead of 65–77 after the load tool's cold `peers`, and its
/// first invites through Prosody cost about a third less CPU (README, "No transparent
/// huge pages"). The kernel keeps the setting for the process's lifetime.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // Refused only by kernels older than 3.15; then huge pages stay, and nothing else.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Platform {
            config: Some(config),
            action,
        } => platform(&config, action),
        Cmd::Platform { config: None, .. } => {
            eprintln!("xmpp-game-bridge: give the configuration file with --config");
            ExitCode::from(2)
        }
        Cmd::Audit {
            config,
            user,
            platform,
            since,
            limit,
        } => match open_store(&config) {
            Ok(store) => report(xmpp_game_bridge::admin::audit(
                &store,
                user.as_deref(),
                platform.as_deref(),
                since.as_deref(),
                limit,
            )),
            Err(code) => code,
        },
        Cmd::Doctor {
            config,
            server_config,
        } => doctor(&config, server_config),
        Cmd::MigrateStorage { from, to } => migrate_storage(&from, &to),
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
        Cmd::Run { config: path } => {
            let config = match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("xmpp-game-bridge: {e}");
                    return ExitCode::from(2);
                }
            };
            let logs = logging::init(config.log_level, config.log_format);
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            // One thread carries the bytes (the link, the HTTP listener); the core has
            // its own. A second I/O thread only woke the first: measured through
            // Prosody, it cost about a fifth more CPU per invite.
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            let result = runtime.block_on(daemon::run(config, daemon::Source { path, logs }));
            // A blocking call still waiting on a database that does not answer (a bridge
            // cut off the network) must not keep the process from ending.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            match result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        for args in [
            &["x", "platform", "add", "a@b.c", "--config", "f.toml"][..],
            &["x", "platform", "--config", "f.toml", "list"][..],
            &["x", "audit", "--config", "f.toml", "--user", "a@b.c"][..],
            &[
                "x",
                "doctor",
                "--config",
                "f.toml",
                "--server-config",
                "p.cfg.lua",
            ][..],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}
