//! XEP-0050 §2 command discovery, answered from the registry: the command list
//! (disco#items on the commands node) shows only the nodes the requester may run;
//! disco#info on a node the requester may not run answers `forbidden`, on a node that
//! does not exist `item-not-found`.

use minidom::Element;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::jid::Jid;

use super::{NodeDef, NODES};
use crate::failure::{quote, Failure};
use crate::rights;
use crate::xep;
use crate::xep::forms::DataForm;

/// The node named `name`, if `may_run` says the requester may run it, and the form a
/// prompt's answer node stands for (see [`super::resolve`]).
pub fn admit(
    name: &str,
    may_run: impl FnOnce(&NodeDef) -> bool,
) -> Result<(&'static NodeDef, Option<DataForm>), Failure> {
    let (def, implied) = super::resolve(name).ok_or_else(|| {
        Failure::item_not_found(format!("there is no command named {}", quote(name)))
    })?;
    if !may_run(def) {
        return Err(Failure::forbidden(match def.right {
            Some(right) => format!(
                "\"{}\" needs the right \"{}\", which only platforms it is granted to hold; the operator grants rights with \"xmpp-game-bridge platform set-rights\"",
                def.node,
                right.as_str()
            ),
            None => rights::refusal(def.access, def.node),
        }));
    }
    Ok((def, implied))
}

/// disco#info on the commands node, or on one command node.
pub fn info(node: &str, may_run: impl Fn(&NodeDef) -> bool) -> Result<Element, Failure> {
    let result = if node == xep::commands::NODE {
        DiscoInfoResult {
            node: Some(xep::commands::NODE.to_owned()),
            identities: vec![Identity::new_anonymous::<_, _, String, String>(
                "automation",
                "command-list",
            )],
            features: [xep::commands::NS.to_owned()].into_iter().collect(),
            extensions: vec![],
        }
    } else {
        let (def, _) = admit(node, may_run)?;
        DiscoInfoResult {
            node: Some(def.node.to_owned()),
            identities: vec![Identity::new("automation", "command-node", "en", def.name)],
            features: [xep::commands::NS.to_owned(), xep::forms::NS.to_owned()]
                .into_iter()
                .collect(),
            extensions: vec![],
        }
    };
    Ok(result.into())
}

/// disco#items on the commands node (the nodes the requester may run), or on one
/// command node (which has no items).
pub fn items(
    component: &Jid,
    node: &str,
    may_run: impl Fn(&NodeDef) -> bool,
) -> Result<Element, Failure> {
    let result = if node == xep::commands::NODE {
        DiscoItemsResult {
            node: Some(xep::commands::NODE.to_owned()),
            items: NODES
                .iter()
                .filter(|def| may_run(def))
                .map(|def| Item {
                    jid: component.clone(),
                    node: Some(def.node.to_owned()),
                    name: Some(def.name.to_owned()),
                })
                .collect(),
            rsm: None,
        }
    } else {
        let (def, _) = admit(node, may_run)?;
        DiscoItemsResult {
            node: Some(def.node.to_owned()),
            items: vec![],
            rsm: None,
        }
    };
    Ok(result.into())
}
