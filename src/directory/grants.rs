//! Which XEP-0356 grants the directory needs, which the server gave, and what the
//! operator must add to the server's configuration when one is missing.

use crate::xep::privilege::{PresenceAccess, Privilege};

/// A permission the component needs from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read rosters: who a user's mutual contacts are.
    RosterGet,
    /// Receive the presence of every user.
    PresenceRoster,
}

impl Grant {
    pub fn describe(self) -> &'static str {
        match self {
            Grant::RosterGet => "roster (read access)",
            Grant::PresenceRoster => "presence (roster)",
        }
    }
}

/// The needed grants missing from `privilege` (all of them when nothing was advertised).
pub fn missing(privilege: Option<&Privilege>) -> Vec<Grant> {
    let mut missing = Vec::new();
    if !privilege.is_some_and(|p| p.roster.can_get()) {
        missing.push(Grant::RosterGet);
    }
    if !privilege.is_some_and(|p| p.presence == PresenceAccess::Roster) {
        missing.push(Grant::PresenceRoster);
    }
    missing
}

/// The server families whose configuration we can spell out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFamily {
    Prosody,
    Ejabberd,
    Unknown,
}

impl ServerFamily {
    pub fn from_software(software: Option<&str>) -> ServerFamily {
        let lower = software.unwrap_or("").to_ascii_lowercase();
        if lower.starts_with("prosody") {
            ServerFamily::Prosody
        } else if lower.starts_with("ejabberd") {
            ServerFamily::Ejabberd
        } else {
            ServerFamily::Unknown
        }
    }
}

/// The configuration lines that grant what the component needs, for the server in use.
pub fn instructions(family: ServerFamily, component: &str, domain: &str) -> String {
    let prosody = format!(
        "Prosody (needs prosody-modules' mod_privilege), in the VirtualHost \"{domain}\" section:\n    \
         modules_enabled = {{ \"privilege\" }}\n    \
         privileged_entities = {{ [\"{component}\"] = {{ roster = \"get\"; presence = \"roster\"; message = \"outgoing\"; }} }}\n\
         and in the Component \"{component}\" section: modules_enabled = {{ \"privilege\" }}"
    );
    let ejabberd = format!(
        "ejabberd, in ejabberd.yml:\n  \
         acl: {{game_component: {{server: \"{component}\"}}}}\n  \
         access_rules: {{game_privileged: {{allow: game_component}}}}\n  \
         modules:\n    mod_privilege:\n      roster: {{get: game_privileged}}\n      \
         presence: {{roster: game_privileged}}\n      message: {{outgoing: game_privileged}}"
    );
    match family {
        ServerFamily::Prosody => prosody,
        ServerFamily::Ejabberd => ejabberd,
        ServerFamily::Unknown => format!("{prosody}\nor, for {ejabberd}"),
    }
}
