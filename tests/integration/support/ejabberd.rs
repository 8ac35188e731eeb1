//! ejabberd (Debian `ejabberd`) with a private config dir, spool and logs in the instance's
//! temp dir, loopback only, Erlang distribution on its own loopback port without epmd.
//!
//! Debian's `ejabberdctl` switches to the `ejabberd` user when run as root and keeps a shell
//! as the parent of the Erlang VM. We run a private copy with `INSTALLUSER` emptied (runs as
//! the current user) and `exec` before `erl` (erl and erlexec exec in turn), so the child we
//! spawn *is* the VM: SIGTERM stops it gracefully and `wait` sees its real exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::client::Client;
use super::server::{Ports, ServerOptions, COMPONENT_JID, DOMAIN, LOBBY_JID};

const EJABBERDCTL: &str = "/usr/sbin/ejabberdctl";

pub fn ready_markers(ports: &Ports) -> Vec<String> {
    vec![
        format!(
            "Start accepting TCP connections at 127.0.0.1:{} for ejabberd_c2s",
            ports.c2s
        ),
        format!(
            "Start accepting TCP connections at 127.0.0.1:{} for ejabberd_service",
            ports.component
        ),
    ]
}

/// ejabberd (and the Erlang distribution) exit when a port is taken and say so.
pub const CLASH_MARKERS: &[&str] = &["address already in use", "eaddrinuse"];

/// ejabberd logs to the console in the foreground; stdout is complete, unbuffered, and also
/// holds what the VM prints when it crashes, so it is the log we read.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("console.log")
}

pub fn check_installed() -> Result<(), String> {
    if Path::new(EJABBERDCTL).exists() {
        Ok(())
    } else {
        Err(format!(
            "{EJABBERDCTL} not found: apt-get install -y ejabberd"
        ))
    }
}

pub fn write_config(
    dir: &Path,
    ports: &Ports,
    secret: &str,
    options: &ServerOptions,
) -> Result<(), String> {
    check_installed()?;
    for sub in ["conf", "logs", "spool", "home"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
    }
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };

    let script = std::fs::read_to_string(EJABBERDCTL)
        .map_err(|e| format!("cannot read {EJABBERDCTL}: {e}"))?;
    let as_root = script.replace("\nINSTALLUSER=ejabberd\n", "\nINSTALLUSER=\n");
    let execs = as_root.replace(
        r#"as_current_user) "$@" ;;"#,
        r#"as_current_user) exec "$@" ;;"#,
    );
    if as_root == script || execs == as_root {
        return Err(format!(
            "{EJABBERDCTL} changed: its INSTALLUSER or exec_cmd lines are not the ones \
             this support code patches (written for ejabberd 23.01)"
        ));
    }
    write("ejabberdctl", execs)?;
    make_executable(&dir.join("ejabberdctl"))?;

    // Sourced by ejabberdctl. A fixed node name keeps the Mnesia data valid across
    // restarts; ERL_DIST_PORT replaces epmd, so parallel instances never meet.
    let cookie = super::process::random_token();
    write(
        "conf/ejabberdctl.cfg",
        format!(
            "ERLANG_NODE=ejabberd@localhost\n\
             ERL_DIST_PORT={dist}\n\
             ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0 -setcookie {cookie} \
             -kernel inet_dist_use_interface {{127,0,0,1}}\"\n",
            dist = ports.dist
        ),
    )?;
    // Resolve `localhost` (the node's host) from the file, never from DNS.
    write(
        "conf/inetrc",
        "{lookup,[\"file\",\"native\"]}.\n{host,{127,0,0,1},[\"localhost\"]}.\n".to_owned(),
    )?;
    if options.standby_vm_args {
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/component-config/ejabberd-vm.args"
        ))
        .map_err(|e| format!("cannot read component-config/ejabberd-vm.args: {e}"))?;
        write("conf/vm.args", shipped)?;
    }
    if options.operator_config {
        return write_operator_config(dir, ports, secret, !options.without_snippet);
    }
    write(
        "conf/ejabberd.yml",
        format!(
            r#"# Written by the integration test support code; one instance per test.
hosts: ["{DOMAIN}"]
loglevel: info
auth_method: internal
{password_format}default_db: mnesia
# In-band registration creates the test users; no per-IP delay between them.
registration_timeout: infinity
listen:
  - {{port: {c2s}, ip: "127.0.0.1", module: ejabberd_c2s, starttls_required: false{c2s_shaper}}}
  - port: {component}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts: {{"{COMPONENT_JID}": {{password: "{secret}"}}}}
{component_also}  - port: {lobby}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts: {{"{LOBBY_JID}": {{password: "{secret}-lobby"}}}}
{api_listener}acl:
  game_component: {{server: "{COMPONENT_JID}"}}
{shapers}access_rules:
  c2s: {{allow: all}}
  register: {{allow: all}}
  game_privileged: {{allow: game_component}}
modules:
  mod_adhoc: {{}}
  mod_disco: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_register: {{access: register}}
  mod_roster: {{}}
  mod_version: {{}}
{privilege}{api_modules}"#,
            c2s = ports.c2s,
            component = ports.component,
            lobby = ports.lobby,
            component_also = options
                .component_also_at
                .iter()
                .map(|ip| format!(
                    "  - port: {}\n    ip: \"{ip}\"\n    module: ejabberd_service\n    \
                     hosts: {{\"{COMPONENT_JID}\": {{password: \"{secret}\"}}}}\n",
                    ports.component
                ))
                .collect::<String>(),
            c2s_shaper = if options.debian_limits {
                ", shaper: c2s_shaper"
            } else {
                ""
            },
            shapers = if options.debian_limits {
                shapers(&options.limits_exempt)
            } else {
                String::new()
            },
            // A thousand logins at once cost little with plain passwords (the default
            // hashes with SCRAM at every PLAIN login, which made them time out).
            password_format = if options.bench {
                "auth_password_format: plain\n"
            } else {
                ""
            },
            api_listener = if options.sessions_api || options.bench {
                format!(
                    "  - port: {}\n    ip: \"127.0.0.1\"\n    module: ejabberd_http\n    \
                     request_handlers:\n      /api: mod_http_api\n",
                    ports.api
                )
            } else {
                String::new()
            },
            api_modules = if options.bench {
                "  mod_admin_extra: {}\n  mod_http_api: {}\n\
                 api_permissions:\n  \"side by side: rosters and presence\":\n    from: [mod_http_api]\n    \
                 who:\n      ip: 127.0.0.1/32\n    \
                 what: [connected_users_vhost, get_roster, get_presence, add_rosteritem, register]\n"
            } else if options.sessions_api {
                "  mod_admin_extra: {}\n  mod_http_api: {}\n\
                 api_permissions:\n  \"game bridge: who is online\":\n    from: [mod_http_api]\n    \
                 who:\n      ip: 127.0.0.1/32\n    what: [connected_users_vhost]\n"
            } else {
                ""
            },
            privilege = if options.without_privileges {
                String::new()
            } else {
                format!(
                    "  mod_privilege:\n    roster: {{both: game_privileged}}\n    \
                     message: {{outgoing: game_privileged}}\n    \
                     presence: {{{}: game_privileged}}\n",
                    options.presence_grant()
                )
            },
        ),
    )?;
    Ok(())
}

/// Debian's shapers (`normal` for every client), with `exempt` (bare JIDs) unshaped as
/// `component-config/ejabberd.yml` advises (rules in list form, the platforms first); in
/// the `acl` section, after its first entry.
fn shapers(exempt: &[String]) -> String {
    let mut yaml = String::new();
    let mut rules = String::new();
    if !exempt.is_empty() {
        let users: Vec<String> = exempt
            .iter()
            .map(|jid| format!("{:?}", jid.split('@').next().unwrap_or(jid)))
            .collect();
        yaml.push_str(&format!(
            "  game_platforms: {{user: [{}]}}\n",
            users.join(", ")
        ));
        rules.push_str("    - none: game_platforms\n");
    }
    yaml.push_str(
        "shaper:\n  normal:\n    rate: 3000\n    burst_size: 20000\n  fast: 200000\nshaper_rules:\n  c2s_shaper:\n",
    );
    yaml.push_str(&rules);
    yaml.push_str("    - normal: all\n");
    yaml
}

/// Debian's default configuration, which an operator's server starts from.
const DEBIAN_CONFIG: &str = "/etc/ejabberd/ejabberd.yml";

/// Debian's `ejabberd.yml` with only what a test must change (its host, its ports on
/// loopback, STARTTLS not required of the test clients), `component-config/ejabberd.yml`
/// included as its first lines say, and in-band registration for the test's users in an
/// include of the test's own.
fn write_operator_config(
    dir: &Path,
    ports: &Ports,
    secret: &str,
    snippet: bool,
) -> Result<(), String> {
    let debian = std::fs::read_to_string(DEBIAN_CONFIG)
        .map_err(|e| format!("cannot read {DEBIAN_CONFIG} (apt-get install -y ejabberd): {e}"))?;
    let extra = super::ports::free_ports(6)?;
    let mut config = debian
        .replace(
            "hosts:\n  - localhost\n",
            &format!("hosts:\n  - {DOMAIN}\n"),
        )
        .replace("ip: \"::\"", "ip: \"127.0.0.1\"")
        .replace("starttls_required: true", "starttls_required: false")
        .replace("port: 5222\n", &format!("port: {}\n", ports.c2s));
    for (default, port) in ["5223", "5269", "5443", "5280", "3478", "1883"]
        .iter()
        .zip(&extra)
    {
        config = config.replace(&format!("port: {default}\n"), &format!("port: {port}\n"));
    }
    if !config.contains(&format!("  - {DOMAIN}\n"))
        || !config.contains(&format!("port: {}\n", ports.c2s))
    {
        return Err(format!(
            "{DEBIAN_CONFIG} changed: its hosts or c2s port are not where this support code (written for ejabberd 23.01) expects"
        ));
    }
    let conf = dir.join("conf");
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/component-config/ejabberd.yml"
    ))
    .map_err(|e| format!("cannot read component-config/ejabberd.yml: {e}"))?;
    let bridge = shipped
        .replace("game.example.org", COMPONENT_JID)
        .replace("example.org", DOMAIN)
        .replace("port: 5347", &format!("port: {}", ports.component))
        .replace("port: 5281", &format!("port: {}", ports.api))
        .replace("change-me-to-a-long-random-secret", secret);
    let write = |name: &str, text: String| {
        let path = conf.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(
        "xmpp-game-bridge.yml",
        if snippet {
            bridge
        } else {
            "# The bridge is not attached yet.\n".to_owned()
        },
    )?;
    write(
        "test.yml",
        "# In-band registration creates the test users.\nregistration_timeout: infinity\n\
         access_rules:\n  register:\n    allow: all\nmodules:\n  mod_register:\n    access: register\n"
            .to_owned(),
    )?;
    config.push_str(&format!(
        "\ninclude_config_file:\n  - {}\n  - {}\n",
        conf.join("xmpp-game-bridge.yml").display(),
        conf.join("test.yml").display()
    ));
    write("ejabberd.yml", config)
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(dir.join("ejabberdctl"));
    cmd.arg("--config-dir")
        .arg(dir.join("conf"))
        .arg("--logs")
        .arg(dir.join("logs"))
        .arg("--spool")
        .arg(dir.join("spool"))
        .arg("foreground")
        // Erlang writes its cookie and history under $HOME; keep them in the temp dir.
        .env("HOME", dir.join("home"))
        .current_dir(dir);
    // ejabberdctl lets these override its arguments' defaults; a developer's shell must not
    // point the instance at /etc or /var.
    for var in [
        "CONFIG_DIR",
        "LOGS_DIR",
        "SPOOL_DIR",
        "EJABBERD_CONFIG_PATH",
        "EJABBERDCTL_CONFIG_PATH",
        "EJABBERD_LOG_PATH",
        "EJABBERD_PID_PATH",
        "VMARGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// In-band registration over c2s: a few ms, where `ejabberdctl register` starts a VM.
pub async fn register(c2s: SocketAddr, user: &str, password: &str) -> Result<(), String> {
    Client::register_in_band(c2s, DOMAIN, user, password).await
}
