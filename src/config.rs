//! The operator's configuration: a TOML file, checked completely before anything
//! connects.
//!
//! Every key is documented in `component-config/xmpp-game-bridge.toml`. Unknown keys are
//! rejected with their name and line, so a typo never silently falls back to a default.
//! The shared secret is read from a file or an environment variable; it is kept in a
//! [`Secret`] whose `Debug` output is redacted so it cannot reach a log by accident.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::directory::DirectoryConfig;
use crate::transport::sessions_api::ApiUrl;
use xmpp_parsers::jid::BareJid;

/// Why the configuration cannot be used. Each message is one sentence an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("cannot read the shared secret from {origin}: {reason}")]
    Secret { origin: String, reason: String },
}

/// Virtual hosts one bridge serves (the directory keeps a user's host in one byte).
pub const MAX_DOMAINS: usize = 254;

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default)]
    platforms: Vec<String>,
    component: RawComponent,
    server: RawServer,
    #[serde(default)]
    link: RawLink,
    storage: RawStorage,
    #[serde(default)]
    directory: RawDirectory,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    privacy: RawPrivacy,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    platform: Vec<RawPlatform>,
    #[serde(default)]
    rights: RawRights,
    #[serde(default)]
    invites: RawInvites,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    metrics: RawMetrics,
}

/// `[metrics]`: the operator's listener, off unless `listen` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

/// `[http]`: the HTTP front door, off unless `listen` is set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    listen: Option<String>,
    max_body_kib: u64,
    max_connections: u64,
    header_timeout_secs: u64,
    body_timeout_secs: u64,
    webhook_allow: Vec<String>,
    public_url: Option<String>,
}

impl Default for RawHttp {
    fn default() -> Self {
        let defaults = crate::http::HttpConfig::defaults(([127, 0, 0, 1], 8480).into());
        RawHttp {
            listen: None,
            max_body_kib: (defaults.max_body_bytes / 1024) as u64,
            max_connections: defaults.max_connections as u64,
            header_timeout_secs: defaults.header_timeout.as_secs(),
            body_timeout_secs: defaults.body_timeout.as_secs(),
            webhook_allow: Vec::new(),
            public_url: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawInvites {
    default_expiry_secs: u64,
    max_expiry_secs: u64,
    max_invitees: u64,
    per_host_per_hour: u64,
    declines_before_cooldown: u64,
    cooldown_hours: u64,
    session_max_secs: u64,
}

impl Default for RawInvites {
    fn default() -> Self {
        let d = crate::invites::InvitesConfig::default();
        RawInvites {
            default_expiry_secs: d.default_expiry_secs.into(),
            max_expiry_secs: d.max_expiry_secs.into(),
            max_invitees: d.max_invitees as u64,
            per_host_per_hour: d.per_host_per_hour.into(),
            declines_before_cooldown: d.declines_before_cooldown.into(),
            cooldown_hours: (d.cooldown_secs / 3600).into(),
            session_max_secs: d.session_max_secs.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRights {
    #[serde(default = "default_url_schemes")]
    url_schemes: Vec<String>,
    #[serde(default = "default_attention_interval_secs")]
    attention_interval_secs: u64,
}

fn default_url_schemes() -> Vec<String> {
    vec!["https".to_owned()]
}

fn default_attention_interval_secs() -> u64 {
    60
}

impl Default for RawRights {
    fn default() -> Self {
        RawRights {
            url_schemes: default_url_schemes(),
            attention_interval_secs: default_attention_interval_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    #[serde(default)]
    remote_peers: bool,
    #[serde(default)]
    consent: ConsentPolicy,
    #[serde(default = "default_audit_days")]
    audit_days: u64,
}

fn default_audit_days() -> u64 {
    90
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy {
            remote_peers: false,
            consent: ConsentPolicy::default(),
            audit_days: default_audit_days(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    public_platforms: bool,
    #[serde(default)]
    trusted_domains: Vec<String>,
}

/// A `[[platform]]` entry: a registry entry the bridge adds at start if it is missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    jid: String,
    name: Option<String>,
    #[serde(default = "yes")]
    authorized: bool,
    rights: Option<Vec<String>>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    launch_schemes: Vec<String>,
    answers: Option<String>,
    doors: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

pub use crate::rights::consent::ConsentPolicy;

pub use crate::rights::AccessConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_platform_requests_per_sec")]
    platform_requests_per_sec: u64,
    #[serde(default = "default_user_requests_per_sec")]
    user_requests_per_sec: u64,
}

fn default_platform_requests_per_sec() -> u64 {
    20_000
}
fn default_user_requests_per_sec() -> u64 {
    10
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            platform_requests_per_sec: default_platform_requests_per_sec(),
            user_requests_per_sec: default_user_requests_per_sec(),
        }
    }
}

/// How fast one requester may send requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Sustained IQ requests per second of one platform (or operator); twice that in a burst.
    pub platform_requests_per_sec: u32,
    /// The same for anyone else (users' chat clients).
    pub user_requests_per_sec: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default = "default_roster_max_age_secs")]
    roster_max_age_secs: u64,
    #[serde(default = "default_roster_cache_mib")]
    roster_cache_mib: u64,
    #[serde(default = "default_conversation_window_secs")]
    conversation_window_secs: u64,
    #[serde(default = "default_max_status_chars")]
    max_status_chars: u64,
    #[serde(default = "default_max_resources_per_user")]
    max_resources_per_user: u64,
    #[serde(default = "default_presence_check_secs")]
    presence_check_secs: u64,
}

fn default_roster_max_age_secs() -> u64 {
    300
}
fn default_roster_cache_mib() -> u64 {
    64
}
fn default_conversation_window_secs() -> u64 {
    900
}
fn default_max_status_chars() -> u64 {
    300
}
fn default_max_resources_per_user() -> u64 {
    16
}
fn default_presence_check_secs() -> u64 {
    60
}

impl Default for RawDirectory {
    fn default() -> Self {
        RawDirectory {
            roster_max_age_secs: default_roster_max_age_secs(),
            roster_cache_mib: default_roster_cache_mib(),
            conversation_window_secs: default_conversation_window_secs(),
            max_status_chars: default_max_status_chars(),
            max_resources_per_user: default_max_resources_per_user(),
            presence_check_secs: default_presence_check_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    jid: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: String,
    port: u16,
    domains: Vec<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    #[serde(default)]
    ejabberd_api: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    #[serde(default = "default_keepalive_secs")]
    keepalive_secs: u64,
    #[serde(default = "default_response_timeout_secs")]
    response_timeout_secs: u64,
    #[serde(default = "default_reconnect_initial_ms")]
    reconnect_initial_ms: u64,
    #[serde(default = "default_reconnect_max_secs")]
    reconnect_max_secs: u64,
    #[serde(default = "default_iq_timeout_secs")]
    iq_timeout_secs: u64,
    #[serde(default = "default_command_session_secs")]
    command_session_secs: u64,
    #[serde(default = "default_max_incoming_stanza_kib")]
    max_incoming_stanza_kib: u64,
    #[serde(default = "default_max_outgoing_stanza_kib")]
    max_outgoing_stanza_kib: u64,
}

fn default_keepalive_secs() -> u64 {
    30
}
fn default_response_timeout_secs() -> u64 {
    15
}
fn default_reconnect_initial_ms() -> u64 {
    500
}
fn default_reconnect_max_secs() -> u64 {
    30
}
fn default_iq_timeout_secs() -> u64 {
    30
}
fn default_command_session_secs() -> u64 {
    600
}
fn default_max_incoming_stanza_kib() -> u64 {
    1024
}
fn default_max_outgoing_stanza_kib() -> u64 {
    256
}

impl Default for RawLink {
    fn default() -> Self {
        RawLink {
            keepalive_secs: default_keepalive_secs(),
            response_timeout_secs: default_response_timeout_secs(),
            reconnect_initial_ms: default_reconnect_initial_ms(),
            reconnect_max_secs: default_reconnect_max_secs(),
            iq_timeout_secs: default_iq_timeout_secs(),
            command_session_secs: default_command_session_secs(),
            max_incoming_stanza_kib: default_max_incoming_stanza_kib(),
            max_outgoing_stanza_kib: default_max_outgoing_stanza_kib(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    path: Option<PathBuf>,
    url: Option<String>,
    #[serde(default = "default_lease_secs")]
    lease_secs: u64,
}

fn default_lease_secs() -> u64 {
    5
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    #[serde(default)]
    level: LogLevel,
    #[serde(default)]
    format: LogFormat,
}

pub use crate::logging::{LogFormat, LogLevel};

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn raw(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: describe_toml_error(&e, text),
    })
}

pub use crate::transport::Secret;

/// Where the secret comes from, for messages that must not show the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

impl SecretSource {
    /// Reads the secret. A trailing newline (as `echo` writes it) is not part of it.
    pub fn load(&self) -> Result<Secret, ConfigError> {
        let raw = match self {
            SecretSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| ConfigError::Secret {
                    origin: self.to_string(),
                    reason: e.to_string(),
                })?
            }
            SecretSource::Env(name) => std::env::var(name).map_err(|e| ConfigError::Secret {
                origin: self.to_string(),
                reason: match e {
                    std::env::VarError::NotPresent => "it is not set".to_owned(),
                    std::env::VarError::NotUnicode(_) => "it is not valid UTF-8".to_owned(),
                },
            })?,
        };
        let value = raw.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(ConfigError::Secret {
                origin: self.to_string(),
                reason: "it is empty".to_owned(),
            });
        }
        Ok(Secret::new(value))
    }
}

/// Timings of the link to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Silence on the link after which the component sends a keepalive ping.
    pub keepalive: Duration,
    /// How long the keepalive ping may go unanswered before the link is declared dead.
    pub response_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// How long the component waits for the reply to an IQ it sent.
    pub iq_timeout: Duration,
    /// How long an unfinished multi-step ad-hoc command session is kept.
    pub command_session: Duration,
    /// Incoming stanzas larger than this are skipped (and counted).
    pub max_incoming_stanza_bytes: usize,
    /// No stanza larger than this is sent; answers are cut to fit well below it.
    pub max_outgoing_stanza_bytes: usize,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub component_jid: BareJid,
    pub component_name: String,
    pub server_host: String,
    pub server_port: u16,
    /// ejabberd's HTTP API, to learn who is online when the link comes up.
    pub ejabberd_api: Option<ApiUrl>,
    /// The server's virtual hosts whose users this component serves.
    pub domains: Vec<BareJid>,
    pub secret: Secret,
    pub secret_source: SecretSource,
    pub admins: Vec<BareJid>,
    /// Platforms to register at start if they are not: the `platforms` list
    /// (authorized, default rights) and the `[[platform]]` entries.
    pub platforms: Vec<crate::admin::NewPlatform>,
    pub access: AccessConfig,
    pub consent: ConsentPolicy,
    /// Disclosure records are pruned after this many days.
    pub audit_days: u32,
    pub rights: crate::commands::RightsConfig,
    pub link: LinkConfig,
    pub directory: DirectoryConfig,
    /// Where the durable state lives: `storage.path` (SQLite) or `storage.url`
    /// (PostgreSQL).
    pub storage: crate::store::Location,
    /// `storage.lease_secs`: how long the active bridge's lease lasts unrenewed.
    pub lease: std::time::Duration,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub limits: LimitsConfig,
    /// The HTTP front door, if configured.
    pub http: Option<crate::http::HttpConfig>,
    /// The operator's listener (`/metrics`, `/healthz`, `/readyz`), if configured.
    pub metrics: Option<crate::http::ops::OpsConfig>,
}

impl Config {
    /// What is valid but unwise, one sentence each, for the log at start and for
    /// `check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.link.max_outgoing_stanza_bytes > 512 * 1024 {
            warnings.push(format!(
                "link.max_outgoing_stanza_kib is {}: Prosody closes a component's stream on any stanza over its component_stanza_size_limit (512 KiB by default); keep the two in step",
                self.link.max_outgoing_stanza_bytes / 1024
            ));
        }
        #[cfg(unix)]
        if let SecretSource::File(path) = &self.secret_source {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode();
                if mode & 0o004 != 0 {
                    warnings.push(format!(
                        "the secret file {} can be read by every user of this machine (mode {:o}); run chmod o-rwx on it",
                        path.display(),
                        mode & 0o777
                    ));
                }
            }
        }
        warnings
    }

    /// Reads, parses and validates the file, including the secret it points to.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::parse(&read(path)?, path)
    }

    /// Reads, parses and validates the file, but not the secret: for the commands that
    /// only touch the database (`platform`, `audit`), which work while the secret is out
    /// of reach (a user outside the service's group, or a secret in the service's
    /// environment only).
    pub fn load_without_secret(path: &Path) -> Result<Config, ConfigError> {
        Config::validate(raw(&read(path)?, path)?, false)
    }

    /// Parses `text` (read from `path`, which is only used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::validate(raw(text, path)?, true)
    }

    fn validate(raw: RawConfig, read_secret: bool) -> Result<Config, ConfigError> {
        let component_jid = parse_domain_jid(&raw.component.jid, "component.jid")?;
        let ejabberd_api = raw
            .server
            .ejabberd_api
            .as_deref()
            .map(ApiUrl::parse)
            .transpose()
            .map_err(|e| ConfigError::Invalid(format!("server.ejabberd_api: {e}")))?;
        if raw.server.domains.len() > MAX_DOMAINS {
            return Err(ConfigError::Invalid(format!(
                "server.domains lists {} virtual hosts; one bridge serves at most {MAX_DOMAINS}",
                raw.server.domains.len()
            )));
        }
        if raw.server.domains.is_empty() {
            return Err(ConfigError::Invalid(
                "server.domains must list at least one virtual host of the server".to_owned(),
            ));
        }
        let domains = raw
            .server
            .domains
            .iter()
            .map(|d| parse_domain_jid(d, "server.domains"))
            .collect::<Result<Vec<_>, _>>()?;
        if domains.contains(&component_jid) {
            return Err(ConfigError::Invalid(format!(
                "server.domains lists the component's own JID {component_jid}; list the server's virtual hosts instead"
            )));
        }
        let admins = parse_account_jids(&raw.admins, "admins")?;
        let mut platforms = raw
            .platforms
            .iter()
            .map(|p| {
                crate::admin::platform_jid(p)
                    .map_err(|e| ConfigError::Invalid(format!("platforms: {e}")))
                    .map(|jid| crate::admin::NewPlatform::authorized(jid.as_str()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for p in &raw.platform {
            let jid = crate::admin::platform_jid(&p.jid)
                .map_err(|e| ConfigError::Invalid(format!("[[platform]] jid: {e}")))?;
            let rights = match &p.rights {
                Some(list) => Some(
                    crate::rights::Rights::parse(&list.join(","))
                        .map_err(|e| ConfigError::Invalid(format!("[[platform]] {jid}: {e}")))?
                        .to_string(),
                ),
                None => None,
            };
            for d in &p.domains {
                parse_domain_jid(d, "[[platform]] domains")?;
            }
            for scheme in &p.launch_schemes {
                crate::rights::uri::operator_scheme(scheme).map_err(|e| {
                    ConfigError::Invalid(format!("[[platform]] {jid}: launch_schemes: {e}"))
                })?;
            }
            if let Some(answers) = &p.answers {
                if crate::rights::platforms::Shape::parse(answers).is_none() {
                    return Err(ConfigError::Invalid(format!(
                        "[[platform]] {jid}: answers is \"form\" or \"compact\", not {answers:?}"
                    )));
                }
            }
            let doors = match &p.doors {
                Some(list) => Some(
                    crate::rights::platforms::Doors::parse(&list.join(","))
                        .ok_or_else(|| {
                            ConfigError::Invalid(format!(
                                "[[platform]] {jid}: doors are [\"xmpp\"], [\"http\"] or both, not {list:?}"
                            ))
                        })?
                        .as_str()
                        .to_owned(),
                ),
                None => None,
            };
            platforms.push(crate::admin::NewPlatform {
                jid: jid.to_string(),
                name: p.name.clone(),
                authorized: p.authorized,
                rights,
                domains: p.domains.clone(),
                launch_schemes: p.launch_schemes.clone(),
                answers: p.answers.clone(),
                doors,
            });
        }
        let trusted_domains = raw
            .access
            .trusted_domains
            .iter()
            .map(|d| parse_domain_jid(d, "access.trusted_domains"))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(d) = trusted_domains.iter().find(|d| domains.contains(d)) {
            return Err(ConfigError::Invalid(format!(
                "access.trusted_domains lists {d}, a virtual host whose users are served: list other components of the server (games.example.org), never a host of users"
            )));
        }
        if raw.server.host.trim().is_empty() {
            return Err(ConfigError::Invalid("server.host is empty".to_owned()));
        }
        if raw.server.port == 0 {
            return Err(ConfigError::Invalid(
                "server.port must be the server's component port, not 0".to_owned(),
            ));
        }
        let secret_source = match (raw.server.secret_file, raw.server.secret_env) {
            (Some(path), None) => SecretSource::File(path),
            (None, Some(name)) => SecretSource::Env(name),
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "server.secret_file or server.secret_env must say where the component's shared secret is".to_owned(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "set only one of server.secret_file and server.secret_env".to_owned(),
                ))
            }
        };
        let secret = if read_secret {
            secret_source.load()?
        } else {
            Secret::unread()
        };
        let link = raw.link;
        let directory = raw.directory;
        // Every number has a range: zero makes no sense, and a huge value would overflow
        // time arithmetic.
        for (key, value, min, max) in [
            ("link.keepalive_secs", link.keepalive_secs, 1, 3_600),
            (
                "link.response_timeout_secs",
                link.response_timeout_secs,
                1,
                600,
            ),
            (
                "link.reconnect_initial_ms",
                link.reconnect_initial_ms,
                1,
                60_000,
            ),
            ("link.reconnect_max_secs", link.reconnect_max_secs, 1, 3_600),
            ("link.iq_timeout_secs", link.iq_timeout_secs, 1, 600),
            (
                "link.command_session_secs",
                link.command_session_secs,
                1,
                86_400,
            ),
            (
                "link.max_incoming_stanza_kib",
                link.max_incoming_stanza_kib,
                64,
                16_384,
            ),
            (
                "link.max_outgoing_stanza_kib",
                link.max_outgoing_stanza_kib,
                16,
                4_096,
            ),
            (
                "directory.roster_max_age_secs",
                directory.roster_max_age_secs,
                1,
                604_800,
            ),
            (
                "directory.roster_cache_mib",
                directory.roster_cache_mib,
                1,
                16_384,
            ),
            (
                "directory.conversation_window_secs",
                directory.conversation_window_secs,
                1,
                86_400,
            ),
            (
                "limits.platform_requests_per_sec",
                raw.limits.platform_requests_per_sec,
                1,
                1_000_000,
            ),
            (
                "limits.user_requests_per_sec",
                raw.limits.user_requests_per_sec,
                1,
                1_000_000,
            ),
            (
                "directory.max_status_chars",
                directory.max_status_chars,
                16,
                4_096,
            ),
            (
                "directory.max_resources_per_user",
                directory.max_resources_per_user,
                1,
                1_000,
            ),
            (
                "directory.presence_check_secs",
                directory.presence_check_secs,
                1,
                86_400,
            ),
            ("privacy.audit_days", raw.privacy.audit_days, 1, 3_650),
            ("http.max_body_kib", raw.http.max_body_kib, 1, 16 * 1024),
            ("http.max_connections", raw.http.max_connections, 1, 100_000),
            (
                "http.header_timeout_secs",
                raw.http.header_timeout_secs,
                1,
                3_600,
            ),
            (
                "http.body_timeout_secs",
                raw.http.body_timeout_secs,
                1,
                3_600,
            ),
            (
                "rights.attention_interval_secs",
                raw.rights.attention_interval_secs,
                0,
                86_400,
            ),
            (
                "invites.default_expiry_secs",
                raw.invites.default_expiry_secs,
                30,
                raw.invites.max_expiry_secs,
            ),
            (
                "invites.max_expiry_secs",
                raw.invites.max_expiry_secs,
                30,
                7 * 86_400,
            ),
            (
                "invites.max_invitees",
                raw.invites.max_invitees,
                1,
                crate::invites::MAX_INVITEES as u64,
            ),
            (
                "invites.per_host_per_hour",
                raw.invites.per_host_per_hour,
                1,
                100_000,
            ),
            (
                "invites.declines_before_cooldown",
                raw.invites.declines_before_cooldown,
                1,
                100,
            ),
            (
                "invites.cooldown_hours",
                raw.invites.cooldown_hours,
                0,
                24 * 365,
            ),
            (
                "invites.session_max_secs",
                raw.invites.session_max_secs,
                30,
                30 * 86_400,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Invalid(format!(
                    "{key} is {value}; it must be between {min} and {max}"
                )));
            }
        }
        let http = match &raw.http.listen {
            None => None,
            Some(listen) => {
                let address = std::net::SocketAddr::from_str(listen.trim()).map_err(|_| {
                    ConfigError::Invalid(format!(
                        "http.listen is {listen:?}; give an address and port, such as \"127.0.0.1:8480\" (TLS is the reverse proxy's job)"
                    ))
                })?;
                let public_url = match raw.http.public_url.as_deref().map(str::trim) {
                    None | Some("") => format!("http://{address}"),
                    Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                        url.trim_end_matches('/').to_owned()
                    }
                    Some(url) => {
                        return Err(ConfigError::Invalid(format!(
                            "http.public_url is {url:?}; give where users reach the listener, such as \"https://game.example.org\""
                        )))
                    }
                };
                Some(crate::http::HttpConfig {
                    listen: address,
                    public_url,
                    max_body_bytes: kib(raw.http.max_body_kib),
                    max_connections: small(raw.http.max_connections),
                    header_timeout: Duration::from_secs(raw.http.header_timeout_secs),
                    body_timeout: Duration::from_secs(raw.http.body_timeout_secs),
                    answer_timeout: Duration::from_secs(link.iq_timeout_secs)
                        + crate::http::ANSWER_SLACK,
                    webhook_allow: raw
                        .http
                        .webhook_allow
                        .iter()
                        .map(|h| {
                            h.trim()
                                .trim_start_matches('[')
                                .trim_end_matches(']')
                                .to_ascii_lowercase()
                        })
                        .collect(),
                })
            }
        };
        let metrics = match &raw.metrics.listen {
            None => None,
            Some(listen) => Some(crate::http::ops::OpsConfig {
                listen: std::net::SocketAddr::from_str(listen.trim()).map_err(|_| {
                    ConfigError::Invalid(format!(
                        "metrics.listen is {listen:?}; give an address and port, such as \"127.0.0.1:8481\""
                    ))
                })?,
            }),
        };
        if let (Some(metrics), Some(http)) = (&metrics, &http) {
            if metrics.listen == http.listen {
                return Err(ConfigError::Invalid(format!(
                    "metrics.listen and http.listen are both {}; give each its own port",
                    http.listen
                )));
            }
        }
        let url_schemes: Vec<String> = raw
            .rights
            .url_schemes
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = url_schemes
            .iter()
            .find(|s| !matches!(s.as_str(), "https" | "http" | "xmpp" | "mailto" | "geo"))
        {
            return Err(ConfigError::Invalid(format!(
                "rights.url_schemes lists {bad:?}; open-url sends web pages and the like: https, http, xmpp, mailto or geo (launch URIs are set per platform with the platform CLI)"
            )));
        }
        if !(2..=60).contains(&raw.storage.lease_secs) {
            return Err(ConfigError::Invalid(format!(
                "storage.lease_secs is {}; between 2 and 60 (a standby takes over within about this long after the active bridge is gone)",
                raw.storage.lease_secs
            )));
        }
        let lease = std::time::Duration::from_secs(raw.storage.lease_secs);
        let storage = storage_location(raw.storage)?;
        Ok(Config {
            component_name: raw
                .component
                .name
                .unwrap_or_else(|| "Game bridge".to_owned()),
            component_jid,
            server_host: raw.server.host,
            server_port: raw.server.port,
            ejabberd_api,
            domains,
            secret,
            secret_source,
            admins,
            platforms,
            access: AccessConfig {
                public_platforms: raw.access.public_platforms,
                trusted_domains,
            },
            consent: raw.privacy.consent,
            audit_days: small32(raw.privacy.audit_days),
            rights: crate::commands::RightsConfig {
                url_schemes,
                attention_interval_secs: small32(raw.rights.attention_interval_secs),
                invites: crate::invites::InvitesConfig {
                    default_expiry_secs: small32(raw.invites.default_expiry_secs),
                    max_expiry_secs: small32(raw.invites.max_expiry_secs),
                    max_invitees: small(raw.invites.max_invitees),
                    per_host_per_hour: small32(raw.invites.per_host_per_hour),
                    declines_before_cooldown: small32(raw.invites.declines_before_cooldown),
                    cooldown_secs: small32(raw.invites.cooldown_hours.saturating_mul(3600)),
                    session_max_secs: small32(raw.invites.session_max_secs),
                },
            },
            directory: DirectoryConfig {
                roster_max_age: Duration::from_secs(directory.roster_max_age_secs),
                roster_cache_bytes: usize::try_from(
                    directory.roster_cache_mib.saturating_mul(1 << 20),
                )
                .unwrap_or(usize::MAX),
                conversation_window: Duration::from_secs(directory.conversation_window_secs),
                max_status_chars: small(directory.max_status_chars),
                max_resources_per_user: small(directory.max_resources_per_user),
                presence_check: Duration::from_secs(directory.presence_check_secs),
                remote_peers: raw.privacy.remote_peers,
            },
            link: LinkConfig {
                keepalive: Duration::from_secs(link.keepalive_secs),
                response_timeout: Duration::from_secs(link.response_timeout_secs),
                reconnect_initial: Duration::from_millis(link.reconnect_initial_ms),
                reconnect_max: Duration::from_secs(link.reconnect_max_secs),
                iq_timeout: Duration::from_secs(link.iq_timeout_secs),
                command_session: Duration::from_secs(link.command_session_secs),
                max_incoming_stanza_bytes: kib(link.max_incoming_stanza_kib),
                max_outgoing_stanza_bytes: kib(link.max_outgoing_stanza_kib),
            },
            storage,
            lease,
            log_level: raw.logging.level,
            log_format: raw.logging.format,
            limits: LimitsConfig {
                platform_requests_per_sec: small32(raw.limits.platform_requests_per_sec),
                user_requests_per_sec: small32(raw.limits.user_requests_per_sec),
            },
            http,
            metrics,
        })
    }
}

/// KiB to bytes, for values already checked to be small.
fn kib(value: u64) -> usize {
    small(value.saturating_mul(1024))
}

/// A rate already checked to be small.
fn small32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A count already checked to be small.
fn small(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Account JIDs (`user@host`), as operators are.
fn parse_account_jids(values: &[String], key: &str) -> Result<Vec<BareJid>, ConfigError> {
    values
        .iter()
        .map(|a| {
            let jid = BareJid::from_str(a).map_err(|e| {
                ConfigError::Invalid(format!("{key}: {a:?} is not a valid JID ({e})"))
            })?;
            if jid.node().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "{key}: {a:?} must be an account JID such as admin@example.org"
                )));
            }
            Ok(jid)
        })
        .collect()
}

/// A domain-only JID (`game.example.org`), as components and virtual hosts are named.
fn parse_domain_jid(value: &str, key: &str) -> Result<BareJid, ConfigError> {
    let jid = BareJid::from_str(value)
        .map_err(|e| ConfigError::Invalid(format!("{key}: {value:?} is not a valid JID ({e})")))?;
    if jid.node().is_some() {
        return Err(ConfigError::Invalid(format!(
            "{key}: {value:?} must be a bare domain such as game.example.org, without a user part"
        )));
    }
    Ok(jid)
}

/// toml's messages carry a multi-line snippet; operators get one sentence naming the
/// line and column, and the key where the error is about one.
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim().to_owned();
    match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            let key = text.get(span.clone()).unwrap_or("").trim();
            if key.is_empty() || key.contains('\n') {
                format!("line {line}, column {column}: {message}")
            } else {
                format!("line {line}, column {column} (`{key}`): {message}")
            }
        }
        None => message,
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `storage.path` (SQLite) or `storage.url` (PostgreSQL): exactly one of them.
fn storage_location(raw: RawStorage) -> Result<crate::store::Location, ConfigError> {
    use crate::store::Location;
    match (raw.path, raw.url) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid(
            "storage.path (SQLite) and storage.url (PostgreSQL) are both set; keep one".to_owned(),
        )),
        (None, None) => Err(ConfigError::Invalid(
            "[storage] needs path (a SQLite file) or url (postgres://...)".to_owned(),
        )),
        (Some(path), None) if path.as_os_str().is_empty() => {
            Err(ConfigError::Invalid("storage.path is empty".to_owned()))
        }
        (Some(path), None) => Ok(Location::Sqlite(path)),
        (None, Some(url)) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid(
                    "storage.url must be a PostgreSQL URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                        .to_owned(),
                ));
            }
            if let Err(e) = url.parse::<postgres::Config>() {
                return Err(ConfigError::Invalid(format!(
                    "storage.url {} is not a PostgreSQL URL: {e}",
                    crate::store::db::redact(&url)
                )));
            }
            Ok(Location::Postgres(url))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_secret_env(body: &str) -> String {
        format!(
            "admins = [\"admin@example.test\"]\n\
             [component]\njid = \"game.example.test\"\n\
             [server]\nhost = \"127.0.0.1\"\nport = 5347\ndomains = [\"example.test\"]\n\
             secret_env = \"XGB_TEST_SECRET_{body}\"\n\
             [storage]\npath = \"/tmp/x.sqlite\"\n"
        )
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn the_documented_example_is_a_valid_config() {
        let example = include_str!("../component-config/xmpp-game-bridge.toml");
        // The example names the secret file of a real installation; point it at one here.
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = example.replace("/etc/xmpp-game-bridge/secret", secret.to_str().unwrap());
        let config = parse(&text).unwrap();
        assert_eq!(config.component_jid.as_str(), "game.example.org");
        assert!(config.platforms.is_empty() && config.admins.is_empty());
        assert_eq!(
            config.metrics.map(|m| m.listen.to_string()).as_deref(),
            Some("127.0.0.1:8481")
        );
        assert_eq!(
            config.directory.conversation_window,
            Duration::from_secs(900)
        );
        assert_eq!(config.secret.expose(), "s3cret");
        assert!(!config.directory.remote_peers);
        assert_eq!(config.ejabberd_api, None);
        // The values the example writes out are the defaults it says they are.
        assert_eq!(
            config.rights.invites,
            crate::invites::InvitesConfig::default()
        );
        let with_api = text.replace("# ejabberd_api = ", "ejabberd_api = ");
        let api = parse(&with_api).unwrap().ejabberd_api.unwrap();
        assert_eq!(
            (api.host.as_str(), api.port, api.path.as_str()),
            ("127.0.0.1", 5281, "/api")
        );
    }

    #[test]
    fn invite_settings_are_bounded() {
        std::env::set_var("XGB_TEST_SECRET_INV", "x");
        let text = with_secret_env("INV").replace(
            "[storage]",
            "[invites]\ndefault_expiry_secs = 7200\nmax_expiry_secs = 3600\n[storage]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("invites.default_expiry_secs is 7200"), "{err}");
        let text =
            with_secret_env("INV").replace("[storage]", "[invites]\nmax_invitees = 21\n[storage]");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("between 1 and 20"), "{err}");
    }

    #[test]
    fn an_api_that_is_not_plain_http_is_refused() {
        std::env::set_var("XGB_TEST_SECRET_API", "x");
        let text = with_secret_env("API").replace(
            "[server]\n",
            "[server]\nejabberd_api = \"https://127.0.0.1:5443/api\"\n",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("server.ejabberd_api") && err.contains("http://"),
            "{err}"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        std::env::set_var("XGB_TEST_SECRET_MIN", "s3cret\n");
        let config = parse(&with_secret_env("MIN")).unwrap();
        assert_eq!(config.component_jid.as_str(), "game.example.test");
        assert_eq!(config.secret.expose(), "s3cret");
        assert_eq!(config.link.keepalive, Duration::from_secs(30));
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.log_format, LogFormat::Human);
        assert_eq!(config.admins[0].as_str(), "admin@example.test");
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_the_range() {
        std::env::set_var("XGB_TEST_SECRET_RANGE", "x");
        for (section, key, value) in [
            ("link", "keepalive_secs", "18446744073709551615"),
            ("link", "iq_timeout_secs", "0"),
            ("link", "max_outgoing_stanza_kib", "100000"),
            ("directory", "max_status_chars", "1"),
            ("limits", "user_requests_per_sec", "0"),
        ] {
            let text = format!("{}[{section}]\n{key} = {value}\n", with_secret_env("RANGE"));
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("must be between"),
                "{key}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_everyone_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = with_secret_env("UNUSED").replace(
            "secret_env = \"XGB_TEST_SECRET_UNUSED\"",
            &format!("secret_file = {:?}", secret.to_str().unwrap()),
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(parse(&text).unwrap().warnings().is_empty());
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warnings = parse(&text).unwrap().warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("every user"), "{warnings:?}");
        assert!(!warnings[0].contains("s3cret"));
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        std::env::set_var("XGB_TEST_SECRET_UNK", "x");
        let text = with_secret_env("UNK").replace("port = 5347", "port = 5347\nprot = 1");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 7"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn secret_is_never_in_debug_output() {
        std::env::set_var("XGB_TEST_SECRET_DBG", "hunter2");
        let config = parse(&with_secret_env("DBG")).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn missing_secret_env_is_one_clear_sentence() {
        let err = parse(&with_secret_env("NOT_SET_ANYWHERE"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot read the shared secret from environment variable XGB_TEST_SECRET_NOT_SET_ANYWHERE: it is not set"
        );
    }

    #[test]
    fn inline_secret_is_rejected_as_unknown_key() {
        std::env::set_var("XGB_TEST_SECRET_INL", "x");
        let text = with_secret_env("INL").replace("port = 5347", "port = 5347\nsecret = \"abc\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field `secret`"), "{err}");
    }

    #[test]
    fn component_jid_with_user_part_is_refused() {
        std::env::set_var("XGB_TEST_SECRET_JID", "x");
        let text = with_secret_env("JID").replace("game.example.test", "bot@example.test");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("component.jid"), "{err}");
    }

    #[test]
    fn the_database_commands_need_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let text = with_secret_env("NEVER_SET").replace(
            "secret_env = \"XGB_TEST_SECRET_NEVER_SET\"",
            &format!("secret_file = {:?}", dir.path().join("gone")),
        );
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        assert!(matches!(
            Config::load(&path),
            Err(ConfigError::Secret { .. })
        ));
        let config = Config::load_without_secret(&path).unwrap();
        assert!(!config.secret.is_read());
        assert_eq!(
            config.storage,
            crate::store::Location::Sqlite("/tmp/x.sqlite".into())
        );
        // Everything else is still checked.
        std::fs::write(&path, text.replace("port = 5347", "port = 0")).unwrap();
        assert!(Config::load_without_secret(&path).is_err());
        let env = dir.path().join("env.toml");
        std::fs::write(&env, with_secret_env("NEVER_SET")).unwrap();
        assert!(Config::load_without_secret(&env).is_ok());
    }

    #[test]
    fn both_secret_sources_is_refused() {
        let text = with_secret_env("BOTH")
            .replace("secret_env", "secret_file = \"/nonexistent\"\nsecret_env");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("only one of"), "{err}");
    }

    #[test]
    fn bad_log_level_is_refused() {
        std::env::set_var("XGB_TEST_SECRET_LOG", "x");
        let text = format!("{}[logging]\nlevel = \"loud\"\n", with_secret_env("LOG"));
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("loud") || err.contains("unknown variant"),
            "{err}"
        );
    }
}
