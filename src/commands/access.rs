//! Who may run which command. Security-sensitive: keep it pure and table-tested.
//!
//! The requester's roles are decided by the core from the configuration (admins) before
//! any handler runs; this module only maps roles to nodes.

use xmpp_parsers::jid::Jid;

use super::Node;

/// What the configuration says the requester is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An operator listed in `admins`.
    Admin,
    /// Anyone else.
    Other,
}

/// The entity sending a command, with its roles already decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The full JID the request came from; sessions are bound to it.
    pub jid: Jid,
    pub role: Role,
}

pub fn may_run(node: Node, requester: &Requester) -> bool {
    match node {
        Node::Stats => requester.role == Role::Admin,
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
        #[cfg(test)]
        Node::Echo => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn requester(role: Role) -> Requester {
        Requester {
            jid: Jid::from_str("someone@example.test/r").unwrap(),
            role,
        }
    }

    #[test]
    fn access_table() {
        let table = [
            (Node::Stats, Role::Admin, true),
            (Node::Stats, Role::Other, false),
        ];
        for (node, role, allowed) in table {
            assert_eq!(
                may_run(node, &requester(role)),
                allowed,
                "{node:?} {role:?}"
            );
        }
    }
}
