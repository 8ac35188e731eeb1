//! Which XEP-0356 grants the directory uses, what each one enables, which the server gave,
//! and what the operator adds to the server's configuration for one that is missing.
//!
//! Least privilege: `roster=get` and `presence=managed_entity` are all the bridge needs
//! for the server's own users. `presence=roster` adds the presence of their contacts on
//! other servers, for remote peers.

use crate::xep::privilege::{PresenceAccess, Privilege, Version};

/// A permission the directory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read rosters: who a user's mutual contacts are.
    RosterGet,
    /// Receive the presence of the server's own users (`managed_entity` or `roster`).
    Presence,
    /// Also receive the presence of their contacts on other servers (`roster`).
    ContactsPresence,
    /// Send pubsub IQs as a user (`iq` permission for the pubsub namespace, `set`):
    /// publishing what they play to their PEP.
    PubsubSet,
}

/// The grants without which `peers` and `status` cannot answer at all.
pub const NEEDED: [Grant; 2] = [Grant::RosterGet, Grant::Presence];

impl Grant {
    /// How the operator's configuration names it.
    pub fn setting(self) -> &'static str {
        match self {
            Grant::RosterGet => "roster=get",
            Grant::Presence => "presence=managed_entity",
            Grant::ContactsPresence => "presence=roster",
            Grant::PubsubSet => "iq=http://jabber.org/protocol/pubsub:set",
        }
    }

    /// What it gives the bridge.
    pub fn gives(self) -> &'static str {
        match self {
            Grant::RosterGet => "users' mutual contacts",
            Grant::Presence => "local users' presence",
            Grant::ContactsPresence => "remote contacts' presence",
            Grant::PubsubSet => "publishing to users' PEP",
        }
    }

    /// What the bridge answers with it.
    pub fn used_for(self) -> &'static str {
        match self {
            Grant::RosterGet => "peers",
            Grant::Presence => "peers and status",
            Grant::ContactsPresence => "remote peers",
            Grant::PubsubSet => "publish-gaming",
        }
    }

    pub fn is_granted(self, privilege: Option<&Privilege>) -> bool {
        privilege.is_some_and(|p| match self {
            Grant::RosterGet => p.roster.can_get(),
            Grant::Presence => p.presence.includes_managed_entities(),
            Grant::ContactsPresence => p.presence == PresenceAccess::Roster,
            Grant::PubsubSet => {
                p.iq_allows(xmpp_parsers::ns::PUBSUB, crate::xep::privilege::IqType::Set)
            }
        })
    }
}

/// The needed grants missing from `privilege` (all of them when nothing was advertised).
pub fn missing(privilege: Option<&Privilege>) -> Vec<Grant> {
    NEEDED
        .into_iter()
        .filter(|g| !g.is_granted(privilege))
        .collect()
}

/// The grants of an advertisement, as the configuration names them:
/// `roster=get presence=managed_entity message=none`.
pub fn summary(privilege: &Privilege) -> String {
    let mut text = format!(
        "roster={} presence={} message={}",
        privilege.roster, privilege.presence, privilege.message
    );
    for entry in &privilege.iq {
        text.push_str(&format!(" iq={}:{}", entry.ns, entry.type_));
    }
    text
}

/// What the grants enable, and what a larger grant would add, in one line.
pub fn report(privilege: Option<&Privilege>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for grant in [
        Grant::RosterGet,
        Grant::Presence,
        Grant::ContactsPresence,
        Grant::PubsubSet,
    ] {
        if grant.is_granted(privilege) {
            parts.push(format!(
                "{} gives {} (for {})",
                grant.setting(),
                grant.gives(),
                grant.used_for()
            ));
        } else if grant == Grant::PubsubSet && privilege.is_some_and(|p| p.version == Version::V1) {
            // urn:xmpp:privilege:1 (ejabberd 23.01's mod_privilege) has no iq permission:
            // no setting of the server gives it.
            parts.push(format!(
                "{} cannot be granted by this server (its XEP-0356 is urn:xmpp:privilege:1, as ejabberd 23.01's, which has no iq permission), so {} answers feature-not-implemented",
                grant.gives(),
                grant.used_for()
            ));
        } else {
            parts.push(format!(
                "{} needs {} (for {})",
                grant.gives(),
                grant.setting(),
                grant.used_for()
            ));
        }
    }
    parts.join("; ")
}

/// The server families whose behaviour and configuration we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFamily {
    Prosody,
    Ejabberd,
    Unknown,
}

impl ServerFamily {
    /// From a name the server gave: its software (XEP-0092) or its disco identity.
    pub fn from_name(name: &str) -> ServerFamily {
        // Asked on every read of the directory: no allocation.
        let starts = |prefix: &str| {
            name.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        if starts("prosody") {
            ServerFamily::Prosody
        } else if starts("ejabberd") {
            ServerFamily::Ejabberd
        } else {
            ServerFamily::Unknown
        }
    }

    /// From the privilege namespace: `urn:xmpp:privilege:2` is prosody-modules'
    /// mod_privilege; ejabberd 23.01 speaks `:1`, as older Prosody modules did.
    pub fn from_privilege(privilege: Option<&Privilege>) -> ServerFamily {
        match privilege.map(|p| p.version) {
            Some(Version::V2) => ServerFamily::Prosody,
            _ => ServerFamily::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerFamily::Prosody => "Prosody",
            ServerFamily::Ejabberd => "ejabberd",
            ServerFamily::Unknown => "an unknown server",
        }
    }
}

/// The configuration that grants what the bridge needs, least privilege first, for the
/// server in use, on one line.
pub fn instructions(family: ServerFamily, component: &str, domain: &str) -> String {
    let prosody = format!(
        "Prosody (prosody-modules' mod_privilege): in VirtualHost \"{domain}\" add \
         modules_enabled = {{ \"privilege\" }} and privileged_entities = {{ [\"{component}\"] = \
         {{ roster = \"get\"; presence = \"managed_entity\"; }} }} (presence = \"roster\" adds \
         remote contacts), and in Component \"{component}\" modules_enabled = {{ \"privilege\" }}"
    );
    let ejabberd = format!(
        "ejabberd: in ejabberd.yml add acl: {{game_component: {{server: \"{component}\"}}}}, \
         access_rules: {{game_privileged: {{allow: game_component}}}} and modules: \
         {{mod_privilege: {{roster: {{get: game_privileged}}, presence: {{managed_entity: \
         game_privileged}}}}}} (presence: {{roster: …}} adds remote contacts)"
    );
    match family {
        ServerFamily::Prosody => prosody,
        ServerFamily::Ejabberd => ejabberd,
        ServerFamily::Unknown => format!("{prosody}; or, for {ejabberd}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::privilege::RosterAccess;

    fn granted(roster: RosterAccess, presence: PresenceAccess) -> Privilege {
        Privilege {
            roster,
            presence,
            ..Privilege::none(Version::V1)
        }
    }

    #[test]
    fn managed_entity_is_enough_and_roster_adds_remote_contacts() {
        let least = granted(RosterAccess::Get, PresenceAccess::ManagedEntity);
        assert!(missing(Some(&least)).is_empty());
        assert!(!Grant::ContactsPresence.is_granted(Some(&least)));
        let report = report(Some(&least));
        assert!(
            report.contains("remote contacts' presence needs presence=roster (for remote peers)"),
            "{report}"
        );
        let most = granted(RosterAccess::Both, PresenceAccess::Roster);
        assert!(missing(Some(&most)).is_empty());
        assert!(Grant::ContactsPresence.is_granted(Some(&most)));
        assert_eq!(missing(None), vec![Grant::RosterGet, Grant::Presence]);
    }

    #[test]
    fn a_server_that_cannot_grant_iq_is_not_asked_to() {
        let v1 = granted(RosterAccess::Get, PresenceAccess::ManagedEntity);
        let line = report(Some(&v1));
        assert!(
            line.contains("publishing to users' PEP cannot be granted by this server"),
            "{line}"
        );
        assert!(!line.contains("needs iq="), "{line}");
        let v2 = Privilege {
            version: Version::V2,
            ..v1
        };
        assert!(report(Some(&v2))
            .contains("publishing to users' PEP needs iq=http://jabber.org/protocol/pubsub:set"));
    }

    #[test]
    fn the_summary_names_every_grant() {
        let p = granted(RosterAccess::Both, PresenceAccess::Roster);
        assert_eq!(summary(&p), "roster=both presence=roster message=none");
    }

    #[test]
    fn instructions_are_one_line() {
        for family in [
            ServerFamily::Prosody,
            ServerFamily::Ejabberd,
            ServerFamily::Unknown,
        ] {
            let text = instructions(family, "game.example.org", "example.org");
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("managed_entity"), "{text}");
        }
    }
}
