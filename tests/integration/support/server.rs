//! One real chat server per test: Prosody or ejabberd, in its own temp dir, on its own free
//! loopback ports, with a random component secret. Stopped (killed) on drop.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{self, POLL};
use super::{ejabberd, prosody};

/// The virtual host whose users the tests use.
pub const DOMAIN: &str = "example.test";
/// The component's JID, as the servers are configured to accept it.
pub const COMPONENT_JID: &str = "game.example.test";
/// A second component on the test servers (see [`Server::lobby`]): another service of
/// the same server, such as a platform's component, for the bridge's trusted domains.
pub const LOBBY_JID: &str = "lobby.example.test";

/// How long a server may take from spawn to accepting on both ports.
/// Generous: ejabberd takes 1 s on an idle machine and over 30 s on one whose cores are
/// all busy (`scripts/test-under-load.sh`).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a graceful stop may take before the server is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Attempts with fresh ports when another process took one before the server bound it.
const PORT_ATTEMPTS: usize = 3;
/// Log lines printed when a test panics or a start fails.
const TAIL_LINES: usize = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Prosody,
    Ejabberd,
}

impl ServerKind {
    pub const ALL: [ServerKind; 2] = [ServerKind::Prosody, ServerKind::Ejabberd];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Prosody => "prosody",
            ServerKind::Ejabberd => "ejabberd",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The loopback ports of one instance. `dist` is ejabberd's Erlang distribution port.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub c2s: u16,
    pub component: u16,
    pub dist: u16,
    /// ejabberd's HTTP API, where [`ServerOptions::sessions_api`] opens it.
    pub api: u16,
    /// ejabberd: the second component's own listener (ejabberd gives a component every
    /// host of its listener). Prosody serves both components on `component`.
    pub lobby: u16,
}

pub struct Server {
    kind: ServerKind,
    domain: &'static str,
    component: &'static str,
    dir: TempDir,
    ports: Ports,
    secret: String,
    child: Option<Child>,
    /// Where the current run's lines start in the log: a restart appends to the same file.
    run_offset: u64,
    /// Whether the server is configured for the component (not so for Debian's
    /// configuration without the project's snippet).
    attached: bool,
}

/// Why a launch failed: a port clash is retried with fresh ports, anything else is final.
enum LaunchError {
    PortTaken(String),
    Failed(String),
}

/// Variations of a test server's configuration.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Prosody only: load `component-config/mod_game_bridge_activity.lua` with this rate
    /// limit per pair, in seconds.
    pub activity_module: Option<u32>,
    /// Grant the component no XEP-0356 privileges (to see the bridge say what is missing).
    pub without_privileges: bool,
    /// The XEP-0356 presence grant: `roster` when `None`, else `managed_entity` (or anything
    /// else the server accepts).
    pub presence_grant: Option<&'static str>,
    /// Prosody only: leave `mod_version` out, so the server does not tell its software.
    pub without_version: bool,
    /// Configure the server as an operator following `component-config/` would: Debian's
    /// default configuration file, with the project's file placed where it says (and the
    /// test's own paths, ports and test host in a file of their own).
    pub operator_config: bool,
    /// With `operator_config`: leave `component-config/`'s file out, as an operator who
    /// has not attached the bridge yet (Debian's configuration alone).
    pub without_snippet: bool,
    /// Prosody only: the virtual host, [`DOMAIN`] when `None`.
    pub domain: Option<&'static str>,
    /// Prosody only: server-to-server links (federation) on loopback.
    pub s2s: Option<S2s>,
    /// ejabberd only: its HTTP API on loopback, allowed to list who is online
    /// (`connected_users_vhost`) and nothing else, as `component-config/` recommends.
    pub sessions_api: bool,
    /// For the side-by-side benchmark, what a game server uses without the bridge:
    /// Prosody with an operator (`admin@` the domain) and `mod_admin_adhoc` (XEP-0133),
    /// logging at `info` (Debian's default; debug logging costs CPU per stanza); ejabberd
    /// with its HTTP API (as [`ServerOptions::sessions_api`]) also allowed `get_roster`,
    /// `get_presence`, and, to set the benchmark up, `register` and `add_rosteritem`.
    pub bench: bool,
    /// Prosody only: its `gc` setting, as Lua (`{ threshold = 200; speed = 200 }`);
    /// Prosody's own default when `None`.
    pub prosody_gc: Option<String>,
    /// Prosody only: `network_settings = { nagle = false }` (what `component-config/`
    /// recommends); Prosody's default, Nagle's algorithm on, when `false`.
    pub prosody_nagle_off: bool,
    /// The limits Debian's configurations put on clients, which the test bed otherwise
    /// leaves out: Prosody's `mod_limits` (c2s read at 10 kb/s, s2s at 30 kb/s),
    /// ejabberd's `c2s_shaper` (3,000 B/s, bursts of 20,000 B).
    pub debian_limits: bool,
    /// With `debian_limits`: accounts left unlimited (the platforms', as
    /// `component-config/` advises): Prosody's `unlimited_jids`, ejabberd's `none`
    /// shaper.
    pub limits_exempt: Vec<String>,
    /// Prosody only: STARTTLS offered to clients with this certificate and key (PEM
    /// files), for the clients that insist on TLS (Dino).
    pub c2s_tls: Option<(PathBuf, PathBuf)>,
    /// ejabberd only: more listeners for the component, at these addresses (on the same
    /// port as the one on loopback), for bridges in network namespaces of their own that
    /// reach ejabberd directly.
    pub component_also_at: Vec<std::net::Ipv4Addr>,
    /// ejabberd only: `component-config/ejabberd-vm.args` as the VM's `vm.args`, as the
    /// README advises with a standby.
    pub standby_vm_args: bool,
}

/// A test server's federation: its own s2s port, and where each other test server's
/// domain listens (resolved by the test's configuration, not DNS).
#[derive(Clone, Debug)]
pub struct S2s {
    pub port: u16,
    pub peers: Vec<(&'static str, u16)>,
}

impl ServerOptions {
    pub fn presence_grant(&self) -> &'static str {
        self.presence_grant.unwrap_or("roster")
    }

    pub fn domain(&self) -> &'static str {
        self.domain.unwrap_or(DOMAIN)
    }

    /// The component's JID on this server: [`COMPONENT_JID`] on [`DOMAIN`].
    pub fn component(&self) -> &'static str {
        match self.domain {
            None => COMPONENT_JID,
            Some(domain) => Box::leak(format!("game.{domain}").into_boxed_str()),
        }
    }
}

impl Server {
    /// Two Prosody servers linked by server-to-server links on loopback: one serving
    /// [`DOMAIN`] (with `options`), one serving `other`; each finds the other from its own
    /// configuration, not DNS.
    pub async fn start_federated(
        options: &ServerOptions,
        other: &'static str,
    ) -> Result<(Server, Server), String> {
        let ports = super::ports::free_ports(2)?;
        let home = ServerOptions {
            s2s: Some(S2s {
                port: ports[0],
                peers: vec![(other, ports[1])],
            }),
            ..options.clone()
        };
        // The component answers other servers through its own server, as DNS would say.
        let away = ServerOptions {
            domain: Some(other),
            s2s: Some(S2s {
                port: ports[1],
                peers: vec![(DOMAIN, ports[0]), (COMPONENT_JID, ports[0])],
            }),
            ..ServerOptions::default()
        };
        let home = Server::start_with(ServerKind::Prosody, &home).await?;
        let away = Server::start_with(ServerKind::Prosody, &away).await?;
        Ok((home, away))
    }

    /// Starts a fresh server and waits until both its c2s and component ports accept.
    pub async fn start(kind: ServerKind) -> Result<Server, String> {
        Self::start_with(kind, &ServerOptions::default()).await
    }

    /// [`Server::start`] with a configuration variation.
    pub async fn start_with(kind: ServerKind, options: &ServerOptions) -> Result<Server, String> {
        match kind {
            ServerKind::Prosody => prosody::modules_dir().map(|_| ())?,
            ServerKind::Ejabberd => ejabberd::check_installed()?,
        }
        let mut clash = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix(&format!("xgb-{kind}-"))
                .tempdir()
                .map_err(|e| format!("cannot create a temp dir for {kind}: {e}"))?;
            let found = super::ports::free_ports(5)?;
            let ports = Ports {
                c2s: found[0],
                component: found[1],
                dist: found[2],
                api: found[3],
                lobby: found[4],
            };
            let mut server = Server {
                kind,
                domain: options.domain(),
                component: options.component(),
                dir,
                ports,
                secret: process::random_token(),
                child: None,
                run_offset: 0,
                attached: !(options.operator_config && options.without_snippet),
            };
            match kind {
                ServerKind::Prosody => {
                    prosody::write_config(server.dir.path(), &ports, &server.secret, options)?
                }
                ServerKind::Ejabberd => {
                    ejabberd::write_config(server.dir.path(), &ports, &server.secret, options)?
                }
            }
            match server.launch().await {
                Ok(()) => return Ok(server),
                // Dropping `server` kills what is left of it and removes its dir.
                Err(LaunchError::PortTaken(msg)) => clash = msg,
                Err(LaunchError::Failed(msg)) => return Err(msg),
            }
        }
        Err(format!(
            "{kind}: ports kept being taken by other processes; last: {clash}"
        ))
    }

    async fn launch(&mut self) -> Result<(), LaunchError> {
        let log = self.log_path();
        self.run_offset = process::file_len(&log);
        let mut cmd = match self.kind {
            ServerKind::Prosody => prosody::command(self.dir.path()),
            ServerKind::Ejabberd => ejabberd::command(self.dir.path()),
        };
        let console = self.console_path();
        let child = process::spawn_logged(&mut cmd, &console).map_err(LaunchError::Failed)?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Ready means: the server logged that *it* bound both ports (a bare connect could reach
    /// another process that took the port), and both ports accept.
    async fn wait_ready(&mut self) -> Result<(), LaunchError> {
        let (markers, clashes) = match self.kind {
            ServerKind::Prosody => (prosody::ready_markers(&self.ports), prosody::CLASH_MARKERS),
            ServerKind::Ejabberd => (
                ejabberd::ready_markers(&self.ports),
                ejabberd::CLASH_MARKERS,
            ),
        };
        // Without the bridge's snippet, nothing listens for components.
        let component = self.ports.component.to_string();
        let markers: Vec<String> = markers
            .into_iter()
            .filter(|m| {
                self.attached || !m.ends_with(&component) && !m.contains("ejabberd_service")
            })
            .collect();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = self.run_log();
            let exited = match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(status)) => status,
                Some(Err(e)) => {
                    return Err(LaunchError::Failed(format!(
                        "{}: cannot wait: {e}",
                        self.kind
                    )))
                }
                None => return Err(LaunchError::Failed(format!("{}: not running", self.kind))),
            };
            let lower = text.to_lowercase();
            if clashes.iter().any(|m| lower.contains(&m.to_lowercase())) {
                self.kill();
                return Err(LaunchError::PortTaken(self.failure("a port was taken")));
            }
            if let Some(status) = exited {
                self.child = None;
                return Err(LaunchError::Failed(
                    self.failure(&format!("exited with {status} while starting")),
                ));
            }
            if markers.iter().all(|m| text.contains(m.as_str())) {
                break;
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(LaunchError::Failed(
                    self.failure(&format!("not ready after {READY_TIMEOUT:?}")),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        let addrs = if self.attached {
            vec![self.c2s_addr(), self.component_addr()]
        } else {
            vec![self.c2s_addr()]
        };
        for addr in addrs {
            loop {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => {
                        self.kill();
                        return Err(LaunchError::Failed(
                            self.failure(&format!("{addr} refuses: {e}")),
                        ));
                    }
                    Err(_) => tokio::time::sleep(POLL).await,
                }
            }
        }
        Ok(())
    }

    /// Stops the server gracefully (SIGTERM; SIGKILL after 10 s). Connected clients and
    /// the component see their streams end. Idempotent.
    pub async fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let (status, killed) = process::terminate(&mut child, STOP_GRACE).await?;
        if killed {
            return Err(self.failure(&format!("did not stop within {STOP_GRACE:?}; killed")));
        }
        // Prosody exits 0; the Erlang VM's status after SIGTERM varies by OTP release.
        if self.kind == ServerKind::Prosody && !status.success() {
            return Err(self.failure(&format!("stopped with {status}")));
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL), like a crash: the component's link drops without
    /// a stream footer. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Killing an exited process fails harmlessly; there is nothing else to do.
            let _ = process::kill_and_reap(&mut child);
        }
    }

    /// Stops the server if it runs, then starts it again on the same ports with the same
    /// config and data, so that a connected component can reconnect.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.stop().await?;
        self.start_again().await
    }

    /// Starts a stopped (or killed) server again on the same ports and data.
    pub async fn start_again(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err(format!("{} is already running", self.kind));
        }
        self.launch().await.map_err(|e| match e {
            LaunchError::PortTaken(msg) | LaunchError::Failed(msg) => msg,
        })
    }

    /// Creates a user account on the server's domain. Fails if it exists.
    pub async fn register(&self, user: &str, password: &str) -> Result<(), String> {
        match self.kind {
            ServerKind::Prosody => {
                prosody::register(self.dir.path(), self.domain, user, password).await
            }
            ServerKind::Ejabberd => ejabberd::register(self.c2s_addr(), user, password).await,
        }
        .map_err(|e| format!("{}: {e}", self.kind))
    }

    /// Creates several accounts concurrently (one process or stream each).
    /// Registers each user with the password `<name>-pw`, the tests' convention.
    pub async fn register_users(&self, users: &[&str]) -> Result<(), String> {
        let passwords: Vec<String> = users.iter().map(|u| format!("{u}-pw")).collect();
        let accounts: Vec<(&str, &str)> = users
            .iter()
            .zip(&passwords)
            .map(|(u, p)| (*u, p.as_str()))
            .collect();
        self.register_many(&accounts).await
    }

    pub async fn register_many(&self, users: &[(&str, &str)]) -> Result<(), String> {
        let results =
            futures_util::future::join_all(users.iter().map(|(u, p)| self.register(u, p))).await;
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    pub fn domain(&self) -> &'static str {
        self.domain
    }

    pub fn component_jid(&self) -> &'static str {
        self.component
    }

    pub fn c2s_port(&self) -> u16 {
        self.ports.c2s
    }

    pub fn component_port(&self) -> u16 {
        self.ports.component
    }

    /// The URL of ejabberd's HTTP API (where the options opened it).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.ports.api)
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.c2s))
    }

    pub fn component_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.component))
    }

    /// Where the second component, [`LOBBY_JID`], connects, and its secret.
    pub fn lobby(&self) -> (SocketAddr, String) {
        let port = match self.kind {
            ServerKind::Prosody => self.ports.component,
            ServerKind::Ejabberd => self.ports.lobby,
        };
        (
            SocketAddr::from(([127, 0, 0, 1], port)),
            format!("{}-lobby", self.secret),
        )
    }

    /// The component's shared secret (XEP-0114), random per instance.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The instance's private directory (config, data, logs).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The server's process id, while it runs (to read its CPU time in measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The server's main log (Prosody: its debug log; ejabberd: its console output).
    pub fn log_path(&self) -> PathBuf {
        match self.kind {
            ServerKind::Prosody => prosody::log_path(self.dir.path()),
            ServerKind::Ejabberd => ejabberd::log_path(self.dir.path()),
        }
    }

    /// stdout+stderr of the process; for ejabberd the same file as the log.
    fn console_path(&self) -> PathBuf {
        self.dir.path().join("console.log")
    }

    /// The whole log so far, across restarts.
    pub fn log(&self) -> String {
        process::read_from(&self.log_path(), 0)
    }

    /// Its last `n` lines, plus the console's when that is a separate file (Prosody prints
    /// startup errors there before its log is open).
    pub fn log_tail(&self, n: usize) -> String {
        let mut out = format!(
            "--- last {n} lines of {}:\n{}",
            self.log_path().display(),
            process::tail(&self.log(), n)
        );
        let console = self.console_path();
        if console != self.log_path() {
            let text = process::read_from(&console, 0);
            if !text.trim().is_empty() {
                out.push_str(&format!(
                    "\n--- {}:\n{}",
                    console.display(),
                    process::tail(&text, n)
                ));
            }
        }
        out
    }

    /// Prints the log tail to stderr, which the test runner shows for failed tests.
    pub fn dump_log(&self) {
        eprintln!(
            "{} ({}): {}",
            self.kind,
            self.dir.path().display(),
            self.log_tail(TAIL_LINES)
        );
    }

    fn run_log(&self) -> String {
        process::read_from(&self.log_path(), self.run_offset)
    }

    fn failure(&self, what: &str) -> String {
        format!(
            "{} (c2s {}, component {}) {what}\n{}",
            self.kind,
            self.ports.c2s,
            self.ports.component,
            self.log_tail(40)
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test unwinds through here: show what the server saw.
        if std::thread::panicking() {
            self.dump_log();
        }
        // Nothing is needed from a dropped server, so no graceful stop: killing is instant.
        self.kill();
    }
}
