//! Reloading the configuration (SIGHUP, `systemctl reload`): what may change while the
//! bridge runs changes at once; what the link, the listeners, the directory or the
//! database were built with is said to need a restart, and the running ones stay.

use crate::config::Config;

/// What a reloaded configuration changes, by the names of its sections and keys.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Applied at once.
    pub live: Vec<&'static str>,
    /// Kept as they are until the bridge restarts.
    pub restart: Vec<&'static str>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && self.restart.is_empty()
    }
}

/// What differs between the running configuration and the reloaded one.
pub fn changes(old: &Config, new: &Config) -> Changes {
    let mut changes = Changes::default();
    let mut live = |changed: bool, name: &'static str| {
        if changed {
            changes.live.push(name);
        }
    };
    live(old.log_level != new.log_level, "logging.level");
    live(old.admins != new.admins, "admins");
    live(old.platforms != new.platforms, "platforms");
    live(old.access != new.access, "access");
    live(old.consent != new.consent, "privacy.consent");
    live(old.audit_days != new.audit_days, "privacy.audit_days");
    live(
        old.rights.url_schemes != new.rights.url_schemes
            || old.rights.attention_interval_secs != new.rights.attention_interval_secs,
        "rights",
    );
    live(old.rights.invites != new.rights.invites, "invites");
    live(old.limits != new.limits, "limits");
    live(old.component_name != new.component_name, "component.name");
    live(
        old.link.iq_timeout != new.link.iq_timeout,
        "link.iq_timeout_secs",
    );
    live(
        old.link.command_session != new.link.command_session,
        "link.command_session_secs",
    );
    let mut restart = |changed: bool, name: &'static str| {
        if changed {
            changes.restart.push(name);
        }
    };
    restart(old.component_jid != new.component_jid, "component.jid");
    restart(
        old.server_host != new.server_host || old.server_port != new.server_port,
        "server.host and server.port",
    );
    restart(old.secret != new.secret, "the secret");
    restart(
        old.secret_source != new.secret_source,
        "server.secret_file or secret_env",
    );
    restart(old.domains != new.domains, "server.domains");
    restart(old.ejabberd_api != new.ejabberd_api, "server.ejabberd_api");
    let link = |c: &Config| {
        (
            c.link.keepalive,
            c.link.response_timeout,
            c.link.reconnect_initial,
            c.link.reconnect_max,
            c.link.max_incoming_stanza_bytes,
            c.link.max_outgoing_stanza_bytes,
        )
    };
    restart(
        link(old) != link(new),
        "link (keepalive, reconnects, stanza sizes)",
    );
    restart(
        old.directory != new.directory,
        "directory and privacy.remote_peers",
    );
    restart(old.storage != new.storage, "storage.path and storage.url");
    restart(old.http != new.http, "http");
    restart(old.metrics != new.metrics, "metrics");
    restart(old.log_format != new.log_format, "logging.format");
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra: &str, secret: &str) -> Config {
        std::env::set_var("XGB_RELOAD_TEST_SECRET", secret);
        let (top, extra) = extra.split_once("|").unwrap_or(("", extra));
        let text = format!(
            "{top}[component]\njid = \"game.example.test\"\n\
             [server]\nhost = \"127.0.0.1\"\nport = 5347\ndomains = [\"example.test\"]\n\
             secret_env = \"XGB_RELOAD_TEST_SECRET\"\n\
             [storage]\npath = \"/tmp/x.sqlite\"\n{extra}"
        );
        Config::parse(&text, Path::new("test.toml")).unwrap()
    }

    #[test]
    fn a_limit_changes_live_and_the_server_address_waits_for_a_restart() {
        let old = config("", "s");
        let new = config(
            "[limits]\nuser_requests_per_sec = 3\n[logging]\nlevel = \"debug\"\n",
            "s",
        );
        assert_eq!(
            changes(&old, &new),
            Changes {
                live: vec!["logging.level", "limits"],
                restart: vec![],
            }
        );
        let moved = config("", "s");
        let mut moved = moved;
        moved.server_port = 5348;
        assert_eq!(
            changes(&old, &moved).restart,
            ["server.host and server.port"]
        );
        assert!(changes(&old, &config("", "s")).is_empty());
    }

    #[test]
    fn every_key_that_differs_is_named() {
        let old = config("", "s");
        let new = config(
            "admins = [\"a@example.test\"]\n|\
             [privacy]\nconsent = \"opt-out\"\nremote_peers = true\n\
             [invites]\nmax_invitees = 3\n\
             [metrics]\nlisten = \"127.0.0.1:9\"\n",
            "s",
        );
        let found = changes(&old, &new);
        assert_eq!(found.live, ["admins", "privacy.consent", "invites"]);
        assert_eq!(
            found.restart,
            ["directory and privacy.remote_peers", "metrics"]
        );
    }
}
