//! The user a request is about: a JID of a served domain whose server granted what the
//! answer needs.

use std::str::FromStr;

use xmpp_parsers::jid::BareJid;

use crate::directory::grants::{self, Grant};
use crate::directory::Directory;
use crate::failure::{quote, Failure};

/// Checks that `jid` is a user of a served domain whose server granted `needs`.
pub fn served_user(jid: &str, directory: &Directory, needs: &[Grant]) -> Result<BareJid, Failure> {
    let jid = parse_user(jid)?;
    let domain = directory.domain_of(jid.as_str()).ok_or_else(|| {
        Failure::item_not_found(format!(
            "{} is not a user of this chat server; this bridge serves {}",
            quote(jid.as_str()),
            served_list(directory)
        ))
    })?;
    let missing: Vec<&str> = grants::missing(domain.privilege.as_ref())
        .into_iter()
        .filter(|g| needs.contains(g))
        .map(Grant::setting)
        .collect();
    if !missing.is_empty() && domain.privilege.is_none() && !directory.grants_settled(domain) {
        // Right after a (re)connect the advertisement may still be on its way.
        return Err(Failure::remote_timeout(format!(
            "the bridge has just connected to the chat server of {} and is still learning what it may do there; try again in a moment",
            domain.jid
        )));
    }
    if !missing.is_empty() {
        return Err(Failure::service_unavailable(format!(
            "the chat server has not granted this bridge the {} privilege for {}, so it cannot answer; the operator finds the configuration to add in the bridge's log",
            missing.join(" and "),
            domain.jid
        )));
    }
    Ok(jid)
}

/// A user's bare JID as given: a JID with a local part.
pub fn parse_user(jid: &str) -> Result<BareJid, Failure> {
    let parsed = BareJid::from_str(jid.trim())
        .map_err(|e| Failure::bad_request(format!("{:?} is not a valid JID ({e})", quote(jid))))?;
    if parsed.node().is_none() {
        return Err(Failure::bad_request(format!(
            "{:?} is a server, not a user: give a JID such as alice@example.org",
            quote(jid)
        )));
    }
    Ok(parsed)
}

fn served_list(directory: &Directory) -> String {
    directory
        .domains
        .iter()
        .map(|d| d.jid.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
