//! `xmpp-game-bridge doctor`: what stands between this configuration and a bridge that
//! serves, checked the way the bridge would meet it, in plain lines an operator reads
//! top to bottom. Each problem says its fix.
//!
//! In order: the configuration and the secret; whether a bridge already runs here (then
//! the doctor does not link, so as not to take the running bridge's stanzas, and reads its
//! `/readyz` instead); the server's component port and handshake; each served domain's
//! software (XEP-0092), grants (XEP-0356) and conversation module; the settings the README
//! recommends, read from the server's configuration file; ejabberd's sessions API; the
//! database; the HTTP listeners. It links without staying: the stream is closed once the
//! server has answered.
//!
//! A *problem* is what keeps the bridge from starting or from answering (exit status 1);
//! a *warning* costs speed or a feature; a *note* is for information.

pub mod server_config;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use minidom::rxml::xml_ncname;
use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use crate::config::Config;
use crate::directory::grants::{self, ServerFamily};
use crate::transport::{LinkSettings, Probe, ProbeError};
use crate::xep::privilege::{self, Privilege};

/// How long the server has to answer each step.
const ANSWER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Note,
    Warning,
    Problem,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Problem => "problem",
        })
    }
}

/// What the doctor found, in the order it looked.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<(Level, String)>,
}

impl Report {
    fn add(&mut self, level: Level, text: impl Into<String>) {
        self.findings.push((level, text.into()));
    }

    fn ok(&mut self, text: impl Into<String>) {
        self.add(Level::Ok, text);
    }

    fn note(&mut self, text: impl Into<String>) {
        self.add(Level::Note, text);
    }

    fn warning(&mut self, text: impl Into<String>) {
        self.add(Level::Warning, text);
    }

    fn problem(&mut self, text: impl Into<String>) {
        self.add(Level::Problem, text);
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|(l, _)| *l == level).count()
    }

    /// 0 when nothing would keep the bridge from serving, else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.count(Level::Problem) > 0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (level, text) in &self.findings {
            writeln!(f, "{level}: {text}")?;
        }
        write!(
            f,
            "{} problem(s), {} warning(s)",
            self.count(Level::Problem),
            self.count(Level::Warning)
        )
    }
}

/// Where the server's own configuration is, if the operator said.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub server_config: Option<PathBuf>,
}

/// Examines the configuration at `path`; `Err` with the exit status 2 when the file
/// itself cannot be used (said in the report).
pub async fn examine(path: &Path, options: &Options) -> Result<Report, Report> {
    let mut report = Report::default();
    let config = match Config::load_without_secret(path) {
        Ok(config) => config,
        Err(e) => {
            report.problem(format!(
                "{e}. Fix: correct it (check-config says the same, with its line)"
            ));
            return Err(report);
        }
    };
    report.ok(format!(
        "{}: valid; component {} on {}:{}, serving {}",
        path.display(),
        config.component_jid,
        config.server_host,
        config.server_port,
        join(&config.domains)
    ));
    let secret = match config.secret_source.load() {
        Ok(secret) => {
            report.ok(format!(
                "the secret is read from the {} ({} characters)",
                config.secret_source,
                secret.expose().chars().count()
            ));
            Some(secret)
        }
        Err(e) => {
            report.problem(format!(
                "{e}. Fix: make it readable by the service's user and no one else (the package makes /etc/xmpp-game-bridge/secret root:xmpp-game-bridge 0640), and run the doctor as that user or root"
            ));
            None
        }
    };
    for warning in config.warnings() {
        report.warning(warning);
    }
    let running = running_bridge(&config, &mut report).await;
    let mut family = ServerFamily::Unknown;
    match (&secret, running) {
        // A running bridge's link is not replaced; where it did not say how it is, that
        // something listens is still told.
        (_, Some(Running::Told)) => {}
        (_, Some(Running::Leased)) => listening(&config, &mut report).await,
        (None, None) => report.note("the server is not asked: the secret cannot be read"),
        (Some(secret), None) => {
            let settings = LinkSettings {
                secret: secret.clone(),
                ..crate::daemon::link_settings(&config)
            };
            family = link(&config, &settings, &mut report).await;
        }
    }
    server_settings(&config, family, options, &mut report);
    sessions_api(&config, family, &mut report).await;
    match &config.storage {
        crate::store::Location::Sqlite(path) => database(path, &mut report),
        crate::store::Location::Postgres(url) => postgres(url, &mut report).await,
    }
    listeners(&config, running.is_some(), &mut report).await;
    Ok(report)
}

fn join(domains: &[BareJid]) -> String {
    domains
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a bridge with this configuration runs now: its metrics listener answers.
/// How the doctor knows a bridge runs with this configuration.
#[derive(Clone, Copy)]
enum Running {
    /// It answered on its metrics listener, and said how it is.
    Told,
    /// It holds the database's lease.
    Leased,
}

async fn running_bridge(config: &Config, report: &mut Report) -> Option<Running> {
    if answers_for_itself(config, report).await {
        return Some(Running::Told);
    }
    // Without a listener to ask: the database's lease says whether a bridge runs.
    let location = config.storage.clone();
    let lease = tokio::task::spawn_blocking(move || crate::store::Store::held_lease(&location))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    match lease {
        Some((holder, term, left)) if left > 0 => {
            report.note(format!(
                "a bridge holds the database's lease ({holder}, term {term}): it runs, so the doctor does not link to the server (its link would take the running bridge's place)"
            ));
            Some(Running::Leased)
        }
        _ => None,
    }
}

/// Whether a bridge of this configuration answers on its metrics listener, and what it
/// says of itself.
async fn answers_for_itself(config: &Config, report: &mut Report) -> bool {
    let Some(metrics) = &config.metrics else {
        return false;
    };
    let Some((status, body)) = http_get(metrics.listen, "/readyz").await else {
        return false;
    };
    if body.starts_with("standby") {
        report.note(format!(
            "a bridge runs with this configuration as a standby (metrics.listen {} answers: {}): the doctor does not link to the server, so as not to take the active bridge's place",
            metrics.listen,
            body.trim()
        ));
        return true;
    }
    if !(body.starts_with("ready") || body.starts_with("not ready")) {
        return false;
    }
    report.note(format!(
        "a bridge runs with this configuration (metrics.listen {} answers): the doctor does not link to the server meanwhile, so as not to take the running bridge's stanzas",
        metrics.listen
    ));
    if status == 200 {
        report.ok("the running bridge is ready: link up, grants in, database writable");
    } else {
        for why in body.lines().filter_map(|l| l.strip_prefix("- ")) {
            report.problem(format!("the running bridge is not ready: {why}"));
        }
    }
    true
}

/// Whether something accepts connections at the server's component port, without a
/// handshake (which would take a running bridge's place).
async fn listening(config: &Config, report: &mut Report) {
    let at = format!("{}:{}", config.server_host, config.server_port);
    let connected = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(&at),
    )
    .await;
    match connected {
        Ok(Ok(_)) => report.ok(format!("{at} accepts connections")),
        Ok(Err(e)) => report.problem(refused_at(&at, &e.to_string())),
        Err(_) => report.problem(refused_at(&at, "no answer within 5 s")),
    }
}

/// The problem of nothing accepting connections at `at`, with its fix.
fn refused_at(at: &str, why: &str) -> String {
    format!(
        "nothing accepts connections at {at} ({why}). Fix: start the server; or set server.host and server.port to its component port (Prosody: component_ports, above the first VirtualHost; ejabberd: the port of the ejabberd_service listener; both in /usr/share/xmpp-game-bridge/)"
    )
}

/// Links as the bridge would, asks each domain what it runs, reads the grants, closes.
async fn link(config: &Config, settings: &LinkSettings, report: &mut Report) -> ServerFamily {
    let at = format!("{}:{}", settings.host, settings.port);
    let mut probe = match Probe::connect(settings).await {
        Ok(probe) => probe,
        Err(ProbeError::Refused(why)) => {
            report.problem(refused_at(&at, &why));
            return ServerFamily::Unknown;
        }
        Err(ProbeError::Fatal(fatal)) => {
            report.problem(fatal.to_string());
            return ServerFamily::Unknown;
        }
        Err(ProbeError::Lost(why)) if why.contains("conflict") => {
            report.problem(format!(
                "the server at {at} already has a component {} connected ({why}): another bridge runs with this name. Fix: stop it, or give this one its own component name",
                settings.component
            ));
            return ServerFamily::Unknown;
        }
        Err(ProbeError::Lost(why)) => {
            report.problem(format!(
                "the link to {at} failed: {why}. Fix: check that server.port is the component port (XEP-0114), not the client port"
            ));
            return ServerFamily::Unknown;
        }
    };
    report.ok(format!(
        "{at} accepts connections, and the server accepted the component {} and its secret",
        settings.component
    ));
    let mut domains: Vec<Domain> = config
        .domains
        .iter()
        .map(|d| Domain {
            jid: d.clone(),
            software: None,
            disco: None,
            privilege: None,
        })
        .collect();
    for (n, domain) in domains.iter().enumerate() {
        for (kind, payload) in [
            ("v", Element::builder("query", ns::VERSION).build()),
            ("d", Element::builder("query", ns::DISCO_INFO).build()),
        ] {
            let iq = Element::builder("iq", ns::COMPONENT_ACCEPT)
                .attr(xml_ncname!("type").into(), "get")
                .attr(xml_ncname!("id").into(), format!("doctor-{kind}-{n}"))
                .attr(xml_ncname!("from").into(), settings.component.as_str())
                .attr(xml_ncname!("to").into(), domain.jid.as_str())
                .append(payload)
                .build();
            if let Err(e) = probe.send(&iq).await {
                report.problem(format!("the server stopped reading the link: {e}"));
                return ServerFamily::Unknown;
            }
        }
    }
    let until = tokio::time::Instant::now() + ANSWER;
    while domains.iter().any(|d| !d.answered()) {
        let Some(stanza) = probe.next(until).await else {
            break;
        };
        take(&mut domains, &stanza);
    }
    probe.close().await;
    let mut family = ServerFamily::Unknown;
    for domain in &domains {
        family = describe(domain, settings.component.as_str(), report);
    }
    family
}

/// What the doctor learnt of one served domain.
#[derive(Debug)]
struct Domain {
    jid: BareJid,
    /// XEP-0092's name and version, or why there is none.
    software: Option<Result<(String, String), String>>,
    /// disco#info: the server identity's name, and whether the conversation module is.
    disco: Option<Result<(Option<String>, bool), String>>,
    privilege: Option<Privilege>,
}

impl Domain {
    fn answered(&self) -> bool {
        self.software.is_some() && self.disco.is_some()
    }
}

/// Files what the server said under its domain.
fn take(domains: &mut [Domain], stanza: &Element) {
    let from = stanza.attr("from").unwrap_or("");
    if let Some(advert) = privilege::find(stanza) {
        if let Ok(p) = Privilege::try_from(advert) {
            if !p.is_empty() {
                for d in domains.iter_mut().filter(|d| d.jid.as_str() == from) {
                    d.privilege = Some(p.clone());
                }
            }
        }
        return;
    }
    if stanza.name() != "iq" {
        return;
    }
    let Some((kind, n)) = stanza
        .attr("id")
        .and_then(|id| id.strip_prefix("doctor-"))
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(kind, n)| Some((kind, n.parse::<usize>().ok()?)))
    else {
        return;
    };
    let Some(domain) = domains.get_mut(n) else {
        return;
    };
    if domain.jid.as_str() != from {
        return;
    }
    let error = (stanza.attr("type") == Some("error")).then(|| {
        stanza
            .children()
            .find(|c| c.name() == "error")
            .and_then(|e| e.children().next())
            .map_or("error".to_owned(), |c| crate::failure::quote(c.name()))
    });
    match kind {
        "v" => {
            domain.software = Some(match error {
                Some(error) => Err(error),
                None => {
                    let query = stanza.get_child("query", ns::VERSION);
                    let text = |name: &str| {
                        query
                            .and_then(|q| q.children().find(|c| c.name() == name))
                            .map(|c| crate::failure::quote(&c.text()))
                            .unwrap_or_default()
                    };
                    Ok((text("name"), text("version")))
                }
            })
        }
        "d" => {
            domain.disco = Some(match error {
                Some(error) => Err(error),
                None => {
                    let query = stanza.get_child("query", ns::DISCO_INFO);
                    let identity = query.and_then(|q| {
                        q.children()
                            .find(|c| {
                                c.name() == "identity" && c.attr("category") == Some("server")
                            })
                            .and_then(|c| c.attr("name"))
                            .map(crate::failure::quote)
                    });
                    let activity = query.is_some_and(|q| {
                        q.children()
                            .any(|f| f.attr("var") == Some(crate::directory::activity::NS))
                    });
                    Ok((identity, activity))
                }
            })
        }
        _ => {}
    }
}

/// Reports one domain: software, grants, conversation module. Its server's family.
fn describe(domain: &Domain, component: &str, report: &mut Report) -> ServerFamily {
    let jid = domain.jid.as_str();
    let name = match &domain.software {
        Some(Ok((name, version))) => {
            report.ok(format!("{jid} runs {name} {version}"));
            Some(name.clone())
        }
        Some(Err(error)) => {
            report.note(format!(
                "{jid} does not tell its software ({error}); the bridge then goes by its disco identity"
            ));
            None
        }
        None => {
            report.problem(format!(
                "{jid} did not answer within {} s: is it one of the server's virtual hosts? Fix: list in server.domains the hosts the server serves",
                ANSWER.as_secs()
            ));
            None
        }
    };
    let identity = match &domain.disco {
        Some(Ok((identity, _))) => identity.clone(),
        _ => None,
    };
    let family = name
        .or(identity)
        .map(|n| ServerFamily::from_name(&n))
        .filter(|f| *f != ServerFamily::Unknown)
        .unwrap_or_else(|| ServerFamily::from_privilege(domain.privilege.as_ref()));
    let missing = grants::missing(domain.privilege.as_ref());
    let granted = grants::report(domain.privilege.as_ref());
    if missing.is_empty() {
        report.ok(format!(
            "{jid} grants what peers and status need: {granted}"
        ));
    } else {
        let settings: Vec<&str> = missing.iter().map(|g| g.setting()).collect();
        report.problem(format!(
            "{jid} does not grant {}: {granted}. Fix: {}",
            settings.join(" and "),
            grants::instructions(family, component, jid)
        ));
    }
    if family == ServerFamily::Prosody {
        match &domain.disco {
            Some(Ok((_, true))) => report.ok(format!(
                "{jid} has mod_game_bridge_activity: active peers are those chatting"
            )),
            Some(Ok((_, false))) => report.note(format!(
                "{jid} has no mod_game_bridge_activity: active peers are the contacts online, not those chatting (README, \"Attaching it to your server\", step 3)"
            )),
            _ => {}
        }
    }
    family
}

/// The recommended settings of the server, from its configuration file.
fn server_settings(config: &Config, family: ServerFamily, options: &Options, report: &mut Report) {
    let (family, path) = match (&options.server_config, family) {
        (Some(path), ServerFamily::Unknown) => {
            let is_lua = path.extension().is_some_and(|e| e == "lua");
            (
                if is_lua {
                    ServerFamily::Prosody
                } else {
                    ServerFamily::Ejabberd
                },
                path.clone(),
            )
        }
        (Some(path), family) => (family, path.clone()),
        (None, ServerFamily::Prosody) => (family, PathBuf::from("/etc/prosody/prosody.cfg.lua")),
        (None, ServerFamily::Ejabberd) => (family, PathBuf::from("/etc/ejabberd/ejabberd.yml")),
        (None, ServerFamily::Unknown) => return,
    };
    let unread = |report: &mut Report, why: String| {
        report.note(format!(
            "{why}: the server's recommended settings are not checked (run the doctor as root, or give --server-config)"
        ))
    };
    match family {
        ServerFamily::Prosody => match server_config::prosody(&path) {
            Err(why) => unread(report, why),
            Ok(found) => prosody_settings(&found, report),
        },
        ServerFamily::Ejabberd => match server_config::ejabberd(&path) {
            Err(why) => unread(report, why),
            Ok(found) => ejabberd_settings(config, &found, report),
        },
        ServerFamily::Unknown => {}
    }
}

/// Where a setting was found, for a line.
fn place(found: &server_config::Found) -> String {
    format!("{}:{}", found.file.display(), found.line)
}

fn prosody_settings(found: &server_config::Prosody, report: &mut Report) {
    const GC: &str = "gc = { threshold = 200; speed = 200 }";
    match &found.gc {
        Some(gc) if gc.global => report.ok(format!("Prosody's gc = {} ({})", gc.value, place(gc))),
        Some(gc) => report.warning(format!(
            "Prosody's gc is set under a VirtualHost or Component ({}), where Prosody does not take it. Fix: move it above the first VirtualHost, or into a file of conf.d",
            place(gc)
        )),
        None => report.warning(format!(
            "Prosody's gc is its default: each invite costs Prosody about 4–5 ms of CPU instead of 1.5 (README, \"What invites cost the chat server\"). Fix: {GC} in the global section (/usr/share/xmpp-game-bridge/prosody.cfg.lua has it)"
        )),
    }
    match &found.network_settings {
        Some(settings) if found.nagle_off() && settings.global => report.ok(format!(
            "Prosody's network_settings = {} ({}): Nagle's algorithm is off",
            settings.value,
            place(settings)
        )),
        Some(settings) if found.nagle_off() => report.warning(format!(
            "Prosody's network_settings is set under a VirtualHost or Component ({}), where Prosody does not take it. Fix: move it above the first VirtualHost",
            place(settings)
        )),
        _ => report.warning(
            "Prosody keeps Nagle's algorithm on: an answer over 8 KiB waits 40 ms for it (README, \"Nagle's algorithm\"). Fix: network_settings = { nagle = false } in the global section (/usr/share/xmpp-game-bridge/prosody.cfg.lua has it)",
        ),
    }
}

fn ejabberd_settings(config: &Config, found: &server_config::Ejabberd, report: &mut Report) {
    let limit = config.link.max_incoming_stanza_bytes;
    let mut any = false;
    for listener in &found.listeners {
        if !matches!(listener.module.as_str(), "ejabberd_c2s" | "ejabberd_s2s_in") {
            continue;
        }
        any = true;
        let at = format!(
            "the {} listener on port {} ({}:{})",
            listener.module,
            listener.port,
            listener.file.display(),
            listener.line
        );
        match listener
            .max_stanza_size
            .as_deref()
            .map(|v| v.parse::<usize>())
        {
            Some(Ok(size)) if size <= limit => {
                report.ok(format!("ejabberd's max_stanza_size is {size} on {at}"))
            }
            Some(Ok(size)) => report.warning(format!(
                "ejabberd's max_stanza_size is {size} on {at}, above link.max_incoming_stanza_kib ({} KiB): a stanza between the two makes the bridge skip it, and a single attribute value that large makes it rebuild its link. Fix: max_stanza_size: 262144 there (Debian's default), or raise link.max_incoming_stanza_kib",
                limit / 1024
            )),
            _ => report.warning(format!(
                "ejabberd's max_stanza_size is not set on {at} (ejabberd's default: no limit): a single attribute value over link.max_incoming_stanza_kib ({} KiB) makes the bridge rebuild its link. Fix: max_stanza_size: 262144 there, as Debian's ejabberd.yml has it",
                limit / 1024
            )),
        }
    }
    if !any {
        report.note("no ejabberd_c2s listener was found in ejabberd's configuration");
    }
}

/// ejabberd's sessions API: asked for each domain, as the bridge does at each link.
async fn sessions_api(config: &Config, family: ServerFamily, report: &mut Report) {
    match &config.ejabberd_api {
        None if family == ServerFamily::Ejabberd => report.warning(
            "server.ejabberd_api is not set: ejabberd does not tell a component who is online, so users not heard from since the bridge connected are \"unknown\", not \"offline\". Fix: the HTTP API listener and api_permissions of /usr/share/xmpp-game-bridge/ejabberd.yml, and server.ejabberd_api = \"http://127.0.0.1:5281/api\"",
        ),
        None => {}
        Some(api) => {
            for domain in &config.domains {
                match crate::transport::sessions_api::connected_users(api, domain.as_str(), ANSWER)
                    .await
                {
                    Ok(sessions) => report.ok(format!(
                        "ejabberd's sessions API (server.ejabberd_api) lists who is online on {domain}: {} session(s) now",
                        sessions.len()
                    )),
                    Err(why) => report.warning(format!(
                        "ejabberd's sessions API (server.ejabberd_api) did not list who is online on {domain}: {why}. Fix: the HTTP API listener and api_permissions (connected_users_vhost from 127.0.0.1) of /usr/share/xmpp-game-bridge/ejabberd.yml"
                    )),
                }
            }
        }
    }
}

/// The PostgreSQL database: reachable, its schema, and whether the bridge may write it.
async fn postgres(url: &str, report: &mut Report) {
    let shown = crate::store::db::redact(url);
    let owned = url.to_owned();
    let looked = tokio::task::spawn_blocking(move || crate::store::Store::inspect_postgres(&owned))
        .await
        .map_err(|e| crate::store::StoreError::Value(e.to_string()))
        .and_then(|r| r);
    match looked {
        Err(e) => report.problem(format!(
            "the database {shown} cannot be reached: {e}. Fix: storage.url names the host, port, user, password and database; PostgreSQL's pg_hba.conf must let this user in from this host"
        )),
        Ok(look) if look.version > crate::store::SCHEMA_VERSION => report.problem(format!(
            "the database {shown} has schema {}, newer than this binary's {}: the bridge refuses it. Fix: run the newer version, or restore a backup",
            look.version,
            crate::store::SCHEMA_VERSION
        )),
        Ok(look) if !look.writable => report.problem(format!(
            "the database {shown} (schema {}) cannot be written by its user. Fix: GRANT the user the database (ALTER DATABASE … OWNER TO …, or CREATE on the database and ownership of its tables)",
            look.version
        )),
        Ok(look) if look.version < crate::store::SCHEMA_VERSION => report.ok(format!(
            "the database {shown} has schema {} (migrated to {} at the next start); its user may write it",
            look.version,
            crate::store::SCHEMA_VERSION
        )),
        Ok(look) => report.ok(format!(
            "the database {shown} has schema {}; its user may write it",
            look.version
        )),
    }
}

/// The database: its schema, and whether this user may write it.
fn database(path: &Path, report: &mut Report) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        let dir = path.parent().unwrap_or(Path::new("."));
        if dir.is_dir() {
            report.ok(format!(
                "the database {} is not made yet: the bridge makes it at its first start, in {}",
                path.display(),
                dir.display()
            ));
        } else {
            report.note(format!(
                "the database {} is not made yet, nor its directory: the bridge makes both at its first start (under the packaged unit, only /var/lib/xmpp-game-bridge is writable)",
                path.display()
            ));
        }
        return;
    };
    let owner = format!("owner uid {}, mode {:o}", meta.uid(), meta.mode() & 0o777);
    match crate::store::Store::inspect(path) {
        Ok(version) if version > crate::store::SCHEMA_VERSION => report.problem(format!(
            "the database {} has schema {version}, newer than this binary's {}: the bridge refuses it. Fix: run the newer version, or restore a backup",
            path.display(),
            crate::store::SCHEMA_VERSION
        )),
        Ok(version) => {
            let migrate = if version < crate::store::SCHEMA_VERSION {
                format!(" (migrated to {} at the next start)", crate::store::SCHEMA_VERSION)
            } else {
                String::new()
            };
            let writable = std::fs::OpenOptions::new().append(true).open(path).is_ok();
            if writable {
                report.ok(format!(
                    "the database {} has schema {version}{migrate}; this user may write it ({owner})",
                    path.display()
                ));
            } else {
                report.problem(format!(
                    "the database {} cannot be written by this user ({owner}). Fix: it belongs to the service's user (chown xmpp-game-bridge: {}); the platform and audit commands are run as that user (runuser -u xmpp-game-bridge -- …)",
                    path.display(),
                    path.display()
                ));
            }
        }
        Err(e) => report.problem(format!(
            "the database cannot be read: {e}. Fix: check the file ({owner}), or move it away and restore a backup"
        )),
    }
}

/// The HTTP front door's and the metrics listener's addresses: free, or held by a
/// running bridge.
async fn listeners(config: &Config, running: bool, report: &mut Report) {
    let mut addresses: Vec<(&str, SocketAddr, &str)> = Vec::new();
    if let Some(http) = &config.http {
        addresses.push(("http.listen", http.listen, "/v1/openapi.json"));
    }
    if let Some(metrics) = &config.metrics {
        addresses.push(("metrics.listen", metrics.listen, "/healthz"));
    }
    for (key, address, path) in addresses {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                drop(listener);
                report.ok(format!("{key} {address} is free for the bridge"));
            }
            Err(_) if running || http_get(address, path).await.is_some_and(|(s, _)| s == 200) => {
                report.ok(format!("{key} {address} is the running bridge's"))
            }
            Err(e) => report.problem(format!(
                "{key} {address} cannot be taken ({e}): the bridge would not start. Fix: stop what listens there (ss -ltnp 'sport = :{}'), or choose another address",
                address.port()
            )),
        }
    }
}

/// `GET path` on `address`: the status and the body, if an HTTP server answered.
async fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut bytes = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut bytes).await.ok()?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}
