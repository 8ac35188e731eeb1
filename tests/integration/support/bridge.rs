//! Runs the component binary under test (`xmpp-game-bridge run --config …`) against a test
//! server, with its own temp dir for config, secret, database and log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{self, POLL};
use super::Server;

/// The component binary: the one cargo built for this test run, or, where this code is
/// used outside the integration tests (the demo example), `XMPP_GAME_BRIDGE_BIN` or the
/// binary next to the running executable's directory (`target/<profile>/`).
pub fn binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_xmpp-game-bridge") {
        return PathBuf::from(path);
    }
    if let Some(path) = std::env::var_os("XMPP_GAME_BRIDGE_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .map(|dir| dir.join("xmpp-game-bridge"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("xmpp-game-bridge"))
}
/// What the binary logs each time the XEP-0114 handshake succeeds.
pub const LINK_UP: &str = "link up";
/// How long a SIGTERM may take before the test calls it a hang.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// Settings written into `bridge.toml`; `Default` suits most tests.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Bare JIDs allowed to run operator commands.
    pub admins: Vec<String>,
    /// Bare JIDs of game platforms.
    pub platforms: Vec<String>,
    pub keepalive_secs: u64,
    /// Short by default so reconnect tests do not wait for a long backoff.
    pub reconnect_max_secs: u64,
    pub log_level: String,
    /// Raw TOML appended to the file, for sections a test needs (it is not checked here).
    pub extra_toml: String,
    /// A secret other than the server's, to test a rejected handshake.
    pub secret: Option<String>,
    /// A component name other than the one the server serves, likewise.
    pub component: Option<String>,
    /// `server.ejabberd_api`.
    pub ejabberd_api: Option<String>,
    /// `privacy.consent`: tests of the directory, written before consent existed, see
    /// every user (`opt-out`); tests of consent set `opt-in`, the default of the binary.
    pub consent: &'static str,
    /// `privacy.remote_peers`.
    pub remote_peers: bool,
    /// A component port other than the server's (where nothing listens, say).
    pub port: Option<u16>,
    /// Environment variables of the process (a service manager's `NOTIFY_SOCKET`, say).
    pub env: Vec<(String, String)>,
    /// `storage.url`: the state in PostgreSQL rather than in the temp dir's SQLite file.
    pub storage_url: Option<String>,
    /// `server.host`, if not the loopback address.
    pub host: Option<String>,
    /// A command the bridge runs under (`ip netns exec NAME`: a network of its own).
    pub wrapper: Vec<String>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            admins: Vec::new(),
            platforms: Vec::new(),
            keepalive_secs: 30,
            reconnect_max_secs: 2,
            log_level: "debug".to_owned(),
            extra_toml: String::new(),
            secret: None,
            component: None,
            ejabberd_api: None,
            consent: "opt-out",
            remote_peers: false,
            port: None,
            env: Vec::new(),
            storage_url: None,
            host: None,
            wrapper: Vec::new(),
        }
    }
}

pub struct Bridge {
    dir: TempDir,
    child: Option<Child>,
    /// `link up` lines already waited for by [`Bridge::wait_connected`].
    links_seen: usize,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
}

impl Bridge {
    /// Starts the component against `server` with the given operator JIDs.
    pub async fn start(server: &Server, admins: &[&str]) -> Result<Bridge, String> {
        let config = BridgeConfig {
            admins: admins.iter().map(|a| a.to_string()).collect(),
            ..BridgeConfig::default()
        };
        Self::start_with(server, &config).await
    }

    /// Starts the component with full control over its config.
    pub async fn start_with(server: &Server, config: &BridgeConfig) -> Result<Bridge, String> {
        let dir = tempfile::Builder::new()
            .prefix("xgb-bridge-")
            .tempdir()
            .map_err(|e| format!("cannot create the bridge's temp dir: {e}"))?;
        let secret_path = dir.path().join("secret");
        write_private(
            &secret_path,
            config.secret.as_deref().unwrap_or(server.secret()),
        )?;
        let toml = render_config(
            server,
            config,
            &secret_path,
            &dir.path().join("bridge.sqlite"),
        );
        let config_path = dir.path().join("bridge.toml");
        std::fs::write(&config_path, toml)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let mut bridge = Bridge {
            dir,
            child: None,
            links_seen: 0,
            env: config.env.clone(),
            wrapper: config.wrapper.clone(),
        };
        bridge.spawn()?;
        Ok(bridge)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary());
                cmd
            }
            None => Command::new(binary()),
        };
        cmd.arg("run")
            .arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            // Plain text logs to match on, whatever the terminal.
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(process::spawn_logged(&mut cmd, &self.log_path())?);
        Ok(())
    }

    /// Runs the binary's command line on this bridge's configuration (and so its
    /// database) while it runs: `args` then `--config <file>`. Its output, or why it
    /// failed.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(binary())
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .env("NO_COLOR", "1")
            .output()
            .map_err(|e| format!("cannot run the CLI: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{args:?} failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("bridge.toml")
    }

    /// The file holding the component's secret.
    pub fn secret_path(&self) -> PathBuf {
        self.dir.path().join("secret")
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("bridge.sqlite")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("bridge.log")
    }

    /// Everything the binary printed so far (stdout and stderr, ANSI colours removed).
    pub fn log(&self) -> String {
        strip_ansi(&process::read_from(&self.log_path(), 0))
    }

    /// Waits until the log contains `needle`; on timeout the error holds the log tail.
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        self.wait_for_count(needle, 1, timeout).await
    }

    /// Waits until `needle` occurs at least `count` times in the log. Fails early if the
    /// process exits.
    pub async fn wait_for_count(
        &mut self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return Ok(());
            }
            if let Some(status) = self.exit_status()? {
                return Err(format!(
                    "xmpp-game-bridge exited with {status} before logging {needle:?} ×{count}\n{}",
                    self.log_tail(60)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "xmpp-game-bridge did not log {needle:?} ×{count} within {timeout:?}\n{}",
                    self.log_tail(60)
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the next `link up`: the first call for the first handshake, the next call
    /// (e.g. after `Server::restart`) for the following one, and so on.
    pub async fn wait_connected(&mut self, timeout: Duration) -> Result<(), String> {
        let next = self.links_seen + 1;
        self.wait_for_count(LINK_UP, next, timeout).await?;
        self.links_seen = next;
        Ok(())
    }

    /// How many times the handshake has succeeded so far.
    pub fn link_up_count(&self) -> usize {
        self.log().matches(LINK_UP).count()
    }

    /// The process id, while it runs (to read its CPU time in measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The exit status if the process has exited.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>, String> {
        match self.child.as_mut() {
            Some(child) => child
                .try_wait()
                .map_err(|e| format!("cannot wait for xmpp-game-bridge: {e}")),
            None => Err("xmpp-game-bridge is not running".to_owned()),
        }
    }

    /// Waits until the process exits on its own (a configuration error, say).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "still running after {timeout:?}\n{}",
                    self.log_tail(20)
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGTERM and waits for the exit; a process that needs a kill after 10 s is an
    /// error (graceful shutdown is part of the contract).
    pub async fn terminate(&mut self) -> Result<ExitStatus, String> {
        let Some(mut child) = self.child.take() else {
            return Err("xmpp-game-bridge is not running".to_owned());
        };
        let (status, killed) = process::terminate(&mut child, TERM_GRACE).await?;
        if killed {
            return Err(format!(
                "xmpp-game-bridge ignored SIGTERM for {TERM_GRACE:?} and was killed\n{}",
                self.log_tail(60)
            ));
        }
        Ok(status)
    }

    /// Sends `signal` (`HUP`, say) to the running process.
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let pid = self.pid().ok_or("xmpp-game-bridge is not running")?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{signal} {pid}: {status}"))
        }
    }

    /// Kills the process at once, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::kill_and_reap(&mut child);
        }
    }

    /// Starts the binary again with the same config, database and log file (after
    /// `terminate` or `kill`), e.g. to check that nothing was lost.
    pub fn start_again(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err("xmpp-game-bridge is already running".to_owned());
        }
        self.spawn()
    }

    pub fn log_tail(&self, n: usize) -> String {
        format!(
            "--- last {n} lines of {}:\n{}",
            self.log_path().display(),
            process::tail(&self.log(), n)
        )
    }

    pub fn dump_log(&self) {
        eprintln!("xmpp-game-bridge: {}", self.log_tail(120));
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_log();
        }
        self.kill();
    }
}

fn render_config(server: &Server, config: &BridgeConfig, secret: &Path, db: &Path) -> String {
    let admins: Vec<String> = config.admins.iter().map(|a| toml_str(a)).collect();
    let platforms: Vec<String> = config.platforms.iter().map(|a| toml_str(a)).collect();
    format!(
        r#"admins = [{admins}]
platforms = [{platforms}]

[component]
jid = {jid}

[server]
host = {host}
port = {port}
domains = [{domain}]
secret_file = {secret}
{api}
[link]
keepalive_secs = {keepalive}
reconnect_max_secs = {reconnect}

[storage]
{storage}

[logging]
level = {level}
format = "human"

[privacy]
consent = {consent}
remote_peers = {remote_peers}
{extra}"#,
        consent = toml_str(config.consent),
        remote_peers = config.remote_peers,
        admins = admins.join(", "),
        platforms = platforms.join(", "),
        jid = toml_str(
            config
                .component
                .as_deref()
                .unwrap_or(server.component_jid())
        ),
        port = config.port.unwrap_or_else(|| server.component_port()),
        host = toml_str(config.host.as_deref().unwrap_or("127.0.0.1")),
        domain = toml_str(server.domain()),
        secret = toml_str(&secret.display().to_string()),
        api = config
            .ejabberd_api
            .as_deref()
            .map(|url| format!("ejabberd_api = {}\n", toml_str(url)))
            .unwrap_or_default(),
        keepalive = config.keepalive_secs,
        reconnect = config.reconnect_max_secs,
        storage = match &config.storage_url {
            Some(url) => format!("url = {}", toml_str(url)),
            None => format!("path = {}", toml_str(&db.display().to_string())),
        },
        level = toml_str(&config.log_level),
        extra = config.extra_toml,
    )
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a file only its owner may read, as an operator would keep a secret.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Removes ANSI escape sequences (CSI … final byte), should the binary colour its output.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
