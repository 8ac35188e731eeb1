//! XEP-0030 Service Discovery for the component itself; command nodes are answered by
//! the command registry ([`crate::commands::disco`]).

use minidom::Element;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity};
use xmpp_parsers::ns;

use super::CoreConfig;
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

/// disco#info on the component.
pub fn info(config: &CoreConfig) -> Element {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new(
            "component",
            "generic",
            "en",
            config.name.clone(),
        )],
        features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        extensions: vec![],
    }
    .into()
}

/// disco#items on the component: it has none of its own.
pub fn items() -> Element {
    DiscoItemsResult {
        node: None,
        items: vec![],
        rsm: None,
    }
    .into()
}
