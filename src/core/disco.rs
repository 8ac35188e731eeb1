//! XEP-0030 Service Discovery for the component, and XEP-0050 §2 command discovery.
//!
//! The command list (disco#items on the commands node) shows only the commands the
//! requester may run; disco#info on a command node the requester may not run answers
//! `forbidden`, on a node that does not exist `item-not-found`.

use minidom::Element;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::ns;

use super::failure::Failure;
use super::CoreConfig;
use crate::commands::{self, access, Node, Requester};
use crate::xep;

/// Features of the component itself.
const FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::VERSION,
    xep::commands::NS,
    xep::forms::NS,
];

pub fn info(
    config: &CoreConfig,
    requester: &Requester,
    node: Option<&str>,
) -> Result<Element, Failure> {
    let result = match node {
        None => DiscoInfoResult {
            node: None,
            identities: vec![Identity::new(
                "component",
                "generic",
                "en",
                config.name.clone(),
            )],
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            extensions: vec![],
        },
        Some(xep::commands::NODE) => DiscoInfoResult {
            node: Some(xep::commands::NODE.to_owned()),
            identities: vec![Identity::new_anonymous::<_, _, String, String>(
                "automation",
                "command-list",
            )],
            features: [xep::commands::NS.to_owned()].into_iter().collect(),
            extensions: vec![],
        },
        Some(other) => {
            let node = commands::admit(other, requester)?;
            DiscoInfoResult {
                node: Some(node.as_str().to_owned()),
                identities: vec![Identity::new(
                    "automation",
                    "command-node",
                    "en",
                    node.name(),
                )],
                features: [xep::commands::NS.to_owned(), xep::forms::NS.to_owned()]
                    .into_iter()
                    .collect(),
                extensions: vec![],
            }
        }
    };
    Ok(result.into())
}

pub fn items(
    config: &CoreConfig,
    requester: &Requester,
    node: Option<&str>,
) -> Result<Element, Failure> {
    let component = Jid::from(config.component.clone());
    let result = match node {
        None => DiscoItemsResult {
            node: None,
            items: vec![],
            rsm: None,
        },
        Some(xep::commands::NODE) => DiscoItemsResult {
            node: Some(xep::commands::NODE.to_owned()),
            items: Node::ALL
                .iter()
                .copied()
                .filter(|n| access::may_run(*n, requester))
                .map(|n| Item {
                    jid: component.clone(),
                    node: Some(n.as_str().to_owned()),
                    name: Some(n.name().to_owned()),
                })
                .collect(),
            rsm: None,
        },
        Some(other) => {
            commands::admit(other, requester)?;
            // A command node has no items of its own.
            DiscoItemsResult {
                node: Some(other.to_owned()),
                items: vec![],
                rsm: None,
            }
        }
    };
    Ok(result.into())
}
