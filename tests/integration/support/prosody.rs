//! Prosody (Debian `prosody` + `prosody-modules`) with a private config: loopback only,
//! the ports chosen for this instance, data in the instance's temp dir, and the component
//! granted XEP-0356 privileges by prosody-modules' `mod_privilege`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::server::{Ports, ServerOptions, COMPONENT_JID, DOMAIN};

/// Where distributions put prosody-modules; `PROSODY_MODULES_DIR` overrides.
const MODULE_DIRS: &[&str] = &[
    "/usr/lib/prosody/modules",
    "/usr/local/lib/prosody/modules",
    "/usr/share/prosody-modules",
    "/usr/lib/prosody-modules",
];

/// Log lines that appear only once our process has bound each port.
pub fn ready_markers(ports: &Ports) -> Vec<String> {
    vec![
        format!("Activated service 'c2s' on [127.0.0.1]:{}", ports.c2s),
        format!(
            "Activated service 'component' on [127.0.0.1]:{}",
            ports.component
        ),
    ]
}

/// Prosody keeps running when a port is taken, so the log is the only sign of a clash.
pub const CLASH_MARKERS: &[&str] = &["Failed to open server port"];

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("prosody.cfg.lua")
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("prosody.log")
}

/// Fails with the package to install when Prosody or mod_privilege is missing, so that CI
/// fails loudly instead of skipping.
pub fn modules_dir() -> Result<PathBuf, String> {
    if !Path::new("/usr/bin/prosody").exists() && which("prosody").is_none() {
        return Err("prosody is not installed: apt-get install -y prosody prosody-modules".into());
    }
    let candidates = std::env::var("PROSODY_MODULES_DIR")
        .ok()
        .into_iter()
        .chain(MODULE_DIRS.iter().map(|d| d.to_string()));
    for dir in candidates {
        let dir = PathBuf::from(dir);
        if dir.join("mod_privilege/mod_privilege.lua").exists()
            || dir.join("mod_privilege.lua").exists()
        {
            return Ok(dir);
        }
    }
    Err(format!(
        "prosody-modules' mod_privilege not found in {MODULE_DIRS:?} (or $PROSODY_MODULES_DIR): \
         apt-get install -y prosody-modules"
    ))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.exists())
    })
}

/// Debian's default configuration, which an operator's server starts from.
const DEBIAN_CONFIG: &str = "/etc/prosody/prosody.cfg.lua";

/// Debian's `prosody.cfg.lua` verbatim, `component-config/prosody.cfg.lua` dropped into
/// `conf.d/` as its first lines say, and the test's own paths, ports and host in another
/// file of `conf.d/` (an operator's would be in their prosody.cfg.lua).
fn write_operator_config(
    dir: &Path,
    ports: &Ports,
    secret: &str,
    snippet: bool,
) -> Result<(), String> {
    let modules = modules_dir()?;
    for sub in ["data", "certs", "conf.d"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
    }
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let debian = std::fs::read_to_string(DEBIAN_CONFIG)
        .map_err(|e| format!("cannot read {DEBIAN_CONFIG} (apt-get install -y prosody): {e}"))?;
    write(config_path(dir), debian)?;
    let d = dir.display();
    write(
        dir.join("conf.d").join("00-test.cfg.lua"),
        format!(
            r#"-- The test's own paths, ports and host.
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
plugin_paths = {{ "{modules}" }}
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{d}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

VirtualHost "{DOMAIN}"
"#,
            modules = modules.display(),
            c2s = ports.c2s,
            s2s = ports.dist,
        ),
    )?;
    if !snippet {
        return Ok(());
    }
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/component-config/prosody.cfg.lua"
    ))
    .map_err(|e| format!("cannot read component-config/prosody.cfg.lua: {e}"))?;
    write(
        dir.join("conf.d").join("xmpp-game-bridge.cfg.lua"),
        shipped
            .replace("game.example.org", COMPONENT_JID)
            .replace("example.org", DOMAIN)
            .replace(
                "component_ports = { 5347 }",
                &format!("component_ports = {{ {} }}", ports.component),
            )
            .replace("change-me-to-a-long-random-secret", secret),
    )
}

/// Writes the config and the directories Prosody expects. Paths come from `tempfile` and the
/// secret is hex, so nothing here needs Lua escaping.
pub fn write_config(
    dir: &Path,
    ports: &Ports,
    secret: &str,
    options: &ServerOptions,
) -> Result<(), String> {
    if options.operator_config {
        return write_operator_config(dir, ports, secret, !options.without_snippet);
    }
    let modules = modules_dir()?;
    // The project's own module, loaded from the source tree as an operator would load it
    // from wherever they put it; and the test support's.
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/component-config");
    let support = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/support");
    let (domain, component_jid) = (options.domain(), options.component());
    let (disabled, s2s) = match &options.s2s {
        None if options.c2s_tls.is_some() => ("\"s2s\"", String::new()),
        None => ("\"s2s\", \"tls\"", String::new()),
        Some(s2s) => {
            let targets: String = s2s
                .peers
                .iter()
                .map(|(domain, port)| format!("[\"{domain}\"] = {{ \"127.0.0.1\", {port} }}; "))
                .collect();
            (
                "\"tls\"",
                format!(
                    "s2s_ports = {{ {port} }}\ns2s_interfaces = {{ \"127.0.0.1\" }}\n\
                     s2s_require_encryption = false\ns2s_secure_auth = false\n\
                     test_s2s_targets = {{ {targets}}}\n",
                    port = s2s.port
                ),
            )
        }
    };
    let federation_modules = if options.s2s.is_some() {
        " \"dialback\"; \"test_s2s_targets\";"
    } else {
        ""
    };
    let activity = match options.activity_module {
        Some(interval) => format!(
            "    modules_enabled = {{ \"game_bridge_activity\" }}\n    \
             game_bridge_component = \"{component_jid}\"\n    \
             game_bridge_activity_interval = {interval}\n"
        ),
        None => String::new(),
    };
    for sub in ["data", "certs"] {
        // An empty certs dir silences Prosody's error about the default one.
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
    }
    let d = dir.display();
    let config = format!(
        r#"-- Written by the integration test support code; one instance per test.
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
plugin_paths = {{ "{modules}", "{ours}", "{support}" }}
log = {{ {{ levels = {{ min = "{log_level}" }}, to = "file", filename = "{d}/prosody.log" }} }}
{bench}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
component_ports = {{ {component} }}
component_interfaces = {{ "127.0.0.1" }}
modules_disabled = {{ {disabled} }}
{s2s}{tls}c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

modules_enabled = {{
    "roster"; "saslauth"; "disco"; "ping"; "presence"; "message";
    "mam"; "adhoc"; "pep"; "privilege";{version}{federation_modules}{tls_module}{admin_adhoc}{limits_module}
}}

VirtualHost "{domain}"
{activity}    privileged_entities = {{
        ["{privileged}"] = {{
            roster = "both";
            message = "outgoing";
            presence = "{presence}";
            -- XEP-0356 §5 (privilege:2): IQs on behalf of users, for XEP-0196 publishing.
            -- One namespace only: mod_privilege nests several in its advertisement.
            iq = {{ ["http://jabber.org/protocol/pubsub"] = "both"; }};
        }};
    }}

Component "{component_jid}"
    component_secret = "{secret}"
    modules_enabled = {{ "privilege" }}
    component_conflict_resolve = "kick_old"

-- Another service of the server (a platform's own component).
Component "lobby.{domain}"
    component_secret = "{secret}-lobby"
"#,
        modules = modules.display(),
        // Granting the privileges to a JID that never connects leaves the component without.
        privileged = if options.without_privileges {
            "nobody.example.test"
        } else {
            component_jid
        },
        c2s = ports.c2s,
        component = ports.component,
        tls_module = if options.c2s_tls.is_some() {
            " \"tls\";"
        } else {
            ""
        },
        tls = match &options.c2s_tls {
            Some((cert, key)) => format!(
                "ssl = {{ certificate = \"{}\"; key = \"{}\" }}\n",
                cert.display(),
                key.display()
            ),
            None => String::new(),
        },
        presence = options.presence_grant(),
        log_level = if options.bench { "info" } else { "debug" },
        bench = {
            let mut lines = String::new();
            if options.bench {
                lines.push_str(&format!("admins = {{ \"admin@{domain}\" }}\n"));
            }
            if options.prosody_nagle_off {
                lines.push_str("network_settings = { nagle = false }\n");
            }
            if options.debian_limits {
                // As Debian's prosody.cfg.lua has them.
                lines.push_str(
                    "limits = { c2s = { rate = \"10kb/s\" }; s2sin = { rate = \"30kb/s\" } }\n",
                );
                if !options.limits_exempt.is_empty() {
                    let jids: Vec<String> = options
                        .limits_exempt
                        .iter()
                        .map(|j| format!("{j:?}"))
                        .collect();
                    lines.push_str(&format!("unlimited_jids = {{ {} }}\n", jids.join(", ")));
                }
            }
            if let Some(gc) = &options.prosody_gc {
                lines.push_str(&format!("gc = {gc}\n"));
            }
            lines
        },
        limits_module = if options.debian_limits {
            " \"limits\";"
        } else {
            ""
        },
        admin_adhoc = if options.bench {
            " \"admin_adhoc\";"
        } else {
            ""
        },
        version = if options.without_version {
            ""
        } else {
            " \"version\";"
        },
    );
    let path = config_path(dir);
    std::fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `prosody -F` stays in the foreground, so the child is the server itself.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("prosody");
    cmd.arg("--config")
        .arg(config_path(dir))
        .arg("-F")
        .current_dir(dir);
    cmd
}

/// Creates the account with prosodyctl, which writes the data files directly and works
/// whether the server runs or not (~30 ms). prosodyctl silently overwrites an existing
/// account's password; we refuse instead, as in-band registration on ejabberd does.
pub async fn register(dir: &Path, domain: &str, user: &str, password: &str) -> Result<(), String> {
    let account = dir
        .join("data")
        .join(encode_path_part(domain))
        .join("accounts")
        .join(format!("{}.dat", encode_path_part(&user.to_lowercase())));
    if account.exists() {
        return Err(format!("{user}@{domain} is already registered"));
    }
    let mut cmd = Command::new("prosodyctl");
    cmd.arg("--config")
        .arg(config_path(dir))
        .args(["register", user, domain, password])
        .current_dir(dir);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| format!("prosodyctl task failed: {e}"))?
        .map_err(|e| format!("cannot run prosodyctl: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "prosodyctl register {user} {domain} failed with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Prosody's datamanager file-name encoding: every non-alphanumeric byte as `%xx`.
fn encode_path_part(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}
