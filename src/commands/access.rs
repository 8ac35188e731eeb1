//! Who may run which command. Security-sensitive: keep it pure and table-tested.
//!
//! The requester's roles are decided by the core from the configuration (`admins`,
//! `platforms`) before any handler runs; this module only maps roles to nodes. Consent
//! and per-platform rights will wrap the platform commands here too.

use xmpp_parsers::jid::Jid;

use super::Node;

/// The entity sending a command, with its roles already decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The full JID the request came from; sessions are bound to it.
    pub jid: Jid,
    /// An operator listed in `admins`.
    pub admin: bool,
    /// A game platform listed in `platforms`.
    pub platform: bool,
}

pub fn may_run(node: Node, requester: &Requester) -> bool {
    match node {
        Node::Stats => requester.admin,
        Node::Peers | Node::Status => requester.platform,
        #[cfg(test)]
        Node::Echo => true,
    }
}

/// The sentence a refused requester reads.
pub fn refusal(node: Node) -> String {
    match node {
        Node::Stats => {
            "only the bridge's operators (admins in its configuration) may run \"stats\"".to_owned()
        }
        Node::Peers | Node::Status => format!(
            "only game platforms registered with this bridge may run \"{}\"",
            node.as_str()
        ),
        #[cfg(test)]
        Node::Echo => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn requester(admin: bool, platform: bool) -> Requester {
        Requester {
            jid: Jid::from_str("someone@example.test/r").unwrap(),
            admin,
            platform,
        }
    }

    #[test]
    fn access_table() {
        let table = [
            (Node::Stats, false, false, false),
            (Node::Stats, true, false, true),
            (Node::Stats, false, true, false),
            (Node::Peers, false, false, false),
            (Node::Peers, true, false, false),
            (Node::Peers, false, true, true),
            (Node::Status, false, false, false),
            (Node::Status, true, false, false),
            (Node::Status, false, true, true),
            (Node::Status, true, true, true),
        ];
        for (node, admin, platform, allowed) in table {
            assert_eq!(
                may_run(node, &requester(admin, platform)),
                allowed,
                "{node:?} admin={admin} platform={platform}"
            );
        }
    }
}
