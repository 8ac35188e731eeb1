//! "Now playing" (XEP-0196) on a user's PEP: what is published, where the server lets
//! the bridge publish it, and for whom a platform may; shared by `publish-gaming`,
//! `session-started` and `session-ended`, and by a session that ends by itself.

use minidom::rxml::xml_ncname;
use minidom::Element;

use crate::directory::Directory;
use crate::rights::consent::Consent;
use crate::rights::policy::{self, Subject};
use crate::rights::{Platform, Right};
use crate::xep::privilege::IqType;

pub const NS_GAMING: &str = "urn:xmpp:gaming:0";

pub const NS_PUBSUB: &str = xmpp_parsers::ns::PUBSUB;

/// Whether the chat server of `user` (a bare JID) granted the bridge the XEP-0356 iq
/// privilege to publish to its users' PEP.
pub fn pep_granted(directory: &Directory, user: &str) -> bool {
    directory
        .domain_of(user)
        .and_then(|d| d.privilege.as_ref())
        .is_some_and(|p| p.iq_allows(NS_PUBSUB, IqType::Set))
}

/// The PEP publish of `<game/>` with `fields`, as item `current`.
pub fn publish(fields: &[(&'static str, String)]) -> Element {
    let mut game = Element::builder("game", NS_GAMING);
    for (name, value) in fields {
        game = game.append(
            Element::builder(*name, NS_GAMING)
                .append(value.as_str())
                .build(),
        );
    }
    let item = Element::builder("item", NS_PUBSUB)
        .attr(xml_ncname!("id").into(), "current")
        .append(game.build())
        .build();
    Element::builder("pubsub", NS_PUBSUB)
        .append(
            Element::builder("publish", NS_PUBSUB)
                .attr(xml_ncname!("node").into(), NS_GAMING)
                .append(item)
                .build(),
        )
        .build()
}

/// The players whose "now playing" `platform` may publish or clear, or why
/// none: it holds `publish-gaming`, the player shares with it, and the player's server
/// granted the bridge the pubsub privilege.
pub fn publishable(
    platform: &Platform,
    consent: &Consent,
    directory: &Directory,
    players: &[String],
) -> Result<Vec<String>, &'static str> {
    // The policy's word for a local user who shares with the platform; players who do
    // not share are left out below.
    let sharing = Subject {
        consenting: true,
        remote: false,
    };
    if !policy::rights_for(platform, sharing).contains(Right::PublishGaming) {
        return Err("this platform does not hold publish-gaming");
    }
    let granted: Vec<String> = players
        .iter()
        .filter(|p| platform.sees(consent, p) && pep_granted(directory, p))
        .cloned()
        .collect();
    if granted.is_empty() {
        return Err("the chat server has not granted the bridge the iq privilege for pubsub");
    }
    Ok(granted)
}
