//! XEP-0356: Privileged Entity, the permission advertisement and the wrapper for
//! messages sent on a user's behalf.
//!
//! Two versions are in use and both are read:
//! - version 0.4.1 (2023-04-24), namespace `urn:xmpp:privilege:2`, sent by Prosody's
//!   community `mod_privilege`: §4.2 (roster), §5.2 (message), §6.2 (the `iq`
//!   permission with its `<namespace/>` list, new in 0.4) and §7.2/§7.5 (presence);
//! - version 0.2 (2015-03-23), namespace `urn:xmpp:privilege:1`, sent by ejabberd:
//!   the same §4.2, §5.2, §6.2 and §6.5, without `iq`.
//!
//! [`wrap_outgoing`] builds the `<privilege><forwarded/></privilege>` message of §5.3
//! ("Sending Messages"), which is numbered the same in both versions.
//!
//! This module is security-sensitive: what it parses decides what the component
//! believes it may do on behalf of every user of a server. Parsing therefore grants
//! nothing it cannot name:
//! - an `access` kind it does not know (a later revision may add one, as 0.4 added
//!   `iq`) is skipped, recording nothing, so the known grants beside it still count;
//! - a `<perm/>` without `type` for `roster`, `message` or `presence` grants nothing,
//!   as `none` would: §4.2 requires `type` there, and failing the whole advertisement
//!   would throw the valid grants beside it away;
//! - a `<namespace/>` whose `type` is `none` or missing grants nothing: Prosody sends
//!   a namespace configured with anything but `get`, `set` or `both` without `type`;
//! - an unknown `type` for a known access kind is an error, since what the server
//!   meant cannot be told; so is the same access kind advertised twice.
//!
//! Prosody nests the `<namespace/>` elements of the `iq` permission inside each other
//! when it grants more than one namespace (its `mod_privilege` opens each with `tag`
//! and never closes it), instead of listing them side by side as §6.2 shows. Both
//! shapes, and mixtures of them, are read into one flat list, in document order;
//! serialising writes the flat form. Prosody also sends every user an empty
//! `<privilege/>` at initial presence, and a component listed with no valid grant
//! gets one too: it parses to a [`Privilege`] that [`Privilege::is_empty`].
//!
//! The `push` attribute of the roster permission (0.4.1 §4.2) is not kept: neither
//! Prosody nor ejabberd sends roster pushes to a component, whatever it says.

use std::fmt;
use std::str::FromStr;

use minidom::rxml::xml_ncname;
use minidom::Element;

/// The namespace of version 0.2 (§11.1 of that version), as ejabberd sends it.
pub const NS_V1: &str = "urn:xmpp:privilege:1";

/// The namespace of version 0.4 and later (§11.1), as Prosody sends it.
pub const NS_V2: &str = "urn:xmpp:privilege:2";

/// XEP-0297 (Stanza Forwarding), which carries the message sent on a user's behalf.
const NS_FORWARD: &str = xmpp_parsers::ns::FORWARD;

/// The namespace §5.1 requires for the forwarded message, whatever the stream's.
const NS_CLIENT: &str = "jabber:client";

/// Why an element is not a usable advertisement, or a message cannot be sent on a
/// user's behalf.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PrivilegeError {
    /// The element is not `<privilege/>` in [`NS_V1`] or [`NS_V2`].
    #[error("expected <privilege/> in 'urn:xmpp:privilege:1' or 'urn:xmpp:privilege:2'")]
    WrongElement,
    /// A `<perm/>` has no `access` attribute, so what it grants is unknown.
    #[error("<perm/> has no 'access' attribute")]
    MissingAccess,
    /// A known access kind, or a `<namespace/>` of the `iq` permission, has a
    /// `type` that the XEP does not define for it.
    #[error("unknown type '{value}' for the '{access}' permission")]
    UnknownType {
        /// The access kind: `roster`, `message`, `presence` or `iq`.
        access: String,
        /// The `type` found.
        value: String,
    },
    /// A `<namespace/>` of the `iq` permission has no `ns`, or an empty one.
    #[error("<namespace/> of the 'iq' permission has no 'ns' attribute")]
    MissingNamespace,
    /// The same access kind is advertised twice; which one counts would be a guess.
    #[error("more than one <perm access='{0}'/>")]
    DuplicatePerm(String),
    /// The message to send on a user's behalf is not `<message xmlns='jabber:client'/>`,
    /// which both servers require (§5.3).
    #[error("the message to forward must be <message xmlns='jabber:client'/>")]
    NotClientMessage,
    /// The message to send on a user's behalf has no `from`.
    #[error("the message to forward has no 'from' attribute")]
    MissingFrom,
    /// The message to send on a user's behalf is from a full JID; §5.1 allows
    /// bare JIDs only.
    #[error("the message to forward is from '{0}', which is not a bare JID")]
    FromNotBare(String),
    /// The message to send on a user's behalf is not from the server it is sent
    /// through; ejabberd accepts only that domain.
    #[error("the message to forward is from '{from}', not from a user of '{server}'")]
    FromNotOnServer {
        /// The forwarded message's `from`.
        from: String,
        /// The server the message was to be sent through.
        server: String,
    },
}

/// Which namespace, and so which version of the XEP, an advertisement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// [`NS_V1`], version 0.2, ejabberd.
    V1,
    /// [`NS_V2`], version 0.4 and later, Prosody; the only one with `iq`.
    V2,
}

impl Version {
    /// The namespace of this version.
    pub fn ns(self) -> &'static str {
        match self {
            Version::V1 => NS_V1,
            Version::V2 => NS_V2,
        }
    }

    /// The version whose namespace is `ns`, if any.
    pub fn from_ns(ns: &str) -> Option<Version> {
        match ns {
            NS_V1 => Some(Version::V1),
            NS_V2 => Some(Version::V2),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ns())
    }
}

/// The `roster` permission (§4.1): which roster IQs the component may send to a
/// managed user's bare JID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RosterAccess {
    /// No roster access; also what an absent permission means.
    #[default]
    None,
    /// `get` only.
    Get,
    /// `set` only.
    Set,
    /// `get` and `set`.
    Both,
}

impl RosterAccess {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            RosterAccess::None => "none",
            RosterAccess::Get => "get",
            RosterAccess::Set => "set",
            RosterAccess::Both => "both",
        }
    }

    /// Whether a roster `get` is allowed.
    pub fn can_get(self) -> bool {
        matches!(self, RosterAccess::Get | RosterAccess::Both)
    }

    /// Whether a roster `set` is allowed.
    pub fn can_set(self) -> bool {
        matches!(self, RosterAccess::Set | RosterAccess::Both)
    }
}

impl fmt::Display for RosterAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RosterAccess {
    type Err = PrivilegeError;

    fn from_str(s: &str) -> Result<Self, PrivilegeError> {
        Ok(match s {
            "none" => RosterAccess::None,
            "get" => RosterAccess::Get,
            "set" => RosterAccess::Set,
            "both" => RosterAccess::Both,
            other => return Err(unknown_type("roster", other)),
        })
    }
}

/// The `message` permission (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageAccess {
    /// No message may be sent on anyone's behalf; also what an absent permission means.
    #[default]
    None,
    /// Messages may be sent on behalf of the server or of its users' bare JIDs,
    /// with [`wrap_outgoing`].
    Outgoing,
}

impl MessageAccess {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageAccess::None => "none",
            MessageAccess::Outgoing => "outgoing",
        }
    }

    /// Whether messages may be sent on a user's behalf.
    pub fn can_send(self) -> bool {
        self == MessageAccess::Outgoing
    }
}

impl fmt::Display for MessageAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageAccess {
    type Err = PrivilegeError;

    fn from_str(s: &str) -> Result<Self, PrivilegeError> {
        Ok(match s {
            "none" => MessageAccess::None,
            "outgoing" => MessageAccess::Outgoing,
            other => return Err(unknown_type("message", other)),
        })
    }
}

/// The `presence` permission (§7.1 and §7.4 of 0.4.1, §6.1 and §6.4 of 0.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PresenceAccess {
    /// No presence is forwarded; also what an absent permission means.
    #[default]
    None,
    /// `managed_entity`: the presence of the server's own users.
    ManagedEntity,
    /// `roster`: also the presence of the contacts in their rosters.
    Roster,
}

impl PresenceAccess {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceAccess::None => "none",
            PresenceAccess::ManagedEntity => "managed_entity",
            PresenceAccess::Roster => "roster",
        }
    }

    /// Whether the presence of the server's own users is forwarded; `roster`
    /// implies it (§7.4).
    pub fn includes_managed_entities(self) -> bool {
        self != PresenceAccess::None
    }

    /// Whether the presence of the users' contacts is forwarded too.
    pub fn includes_contacts(self) -> bool {
        self == PresenceAccess::Roster
    }
}

impl fmt::Display for PresenceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PresenceAccess {
    type Err = PrivilegeError;

    fn from_str(s: &str) -> Result<Self, PrivilegeError> {
        Ok(match s {
            "none" => PresenceAccess::None,
            "managed_entity" => PresenceAccess::ManagedEntity,
            "roster" => PresenceAccess::Roster,
            other => return Err(unknown_type("presence", other)),
        })
    }
}

/// Which IQ types one namespace of the `iq` permission allows (§6.1); `none` is
/// not a value here, since a namespace granted `none` grants nothing and is not
/// recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    /// `get` only.
    Get,
    /// `set` only.
    Set,
    /// `get` and `set`.
    Both,
}

impl IqType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Both => "both",
        }
    }

    fn allows_get(self) -> bool {
        matches!(self, IqType::Get | IqType::Both)
    }

    fn allows_set(self) -> bool {
        matches!(self, IqType::Set | IqType::Both)
    }
}

impl fmt::Display for IqType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IqType {
    type Err = PrivilegeError;

    fn from_str(s: &str) -> Result<Self, PrivilegeError> {
        Ok(match s {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "both" => IqType::Both,
            other => return Err(unknown_type("iq", other)),
        })
    }
}

/// One `<namespace/>` of the `iq` permission (§6.2): IQs whose payload is in `ns`
/// may be sent on a user's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IqNamespace {
    /// The payload namespace, e.g. `http://jabber.org/protocol/pubsub`.
    pub ns: String,
    /// Which IQ types are allowed.
    pub type_: IqType,
}

impl IqNamespace {
    /// Allows `type_` IQs in `ns`.
    pub fn new(ns: impl Into<String>, type_: IqType) -> IqNamespace {
        IqNamespace {
            ns: ns.into(),
            type_,
        }
    }

    /// Reads one `<namespace/>`, without its nested children; `None` when it
    /// grants nothing.
    fn parse(elem: &Element) -> Result<Option<IqNamespace>, PrivilegeError> {
        let ns = match elem.attr("ns") {
            Some(ns) if !ns.is_empty() => ns,
            _ => return Err(PrivilegeError::MissingNamespace),
        };
        match elem.attr("type") {
            None | Some("none") => Ok(None),
            Some(value) => Ok(Some(IqNamespace::new(ns, value.parse()?))),
        }
    }
}

impl From<IqNamespace> for Element {
    /// A `<namespace/>` in [`NS_V2`], the only version that has it; `From<Privilege>`
    /// writes it in the advertisement's own namespace instead.
    fn from(namespace: IqNamespace) -> Element {
        namespace_element(namespace, NS_V2)
    }
}

/// What a server grants the component for its users: the `<privilege/>` of an
/// advertisement. An absent permission reads as `None`, or as an empty `iq` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    /// The namespace the server used.
    pub version: Version,
    /// Access to users' rosters.
    pub roster: RosterAccess,
    /// Sending messages on users' behalf.
    pub message: MessageAccess,
    /// Receiving users' (and their contacts') presence.
    pub presence: PresenceAccess,
    /// IQ payload namespaces that may be sent on users' behalf, flattened, in
    /// document order; only [`Version::V2`] servers grant any.
    pub iq: Vec<IqNamespace>,
}

impl Privilege {
    /// An advertisement that grants nothing.
    pub fn none(version: Version) -> Privilege {
        Privilege {
            version,
            roster: RosterAccess::None,
            message: MessageAccess::None,
            presence: PresenceAccess::None,
            iq: Vec::new(),
        }
    }

    /// Whether an IQ of `type_` with a payload in `ns` may be sent on a user's
    /// behalf. [`IqType::Both`] asks for `get` and `set` together, which may be
    /// granted by two entries. The roster permission does not count here: roster
    /// IQs are sent directly, not wrapped (§4.3).
    pub fn iq_allows(&self, ns: &str, type_: IqType) -> bool {
        let granted = self.iq.iter().filter(|entry| entry.ns == ns);
        let (get, set) = granted.fold((false, false), |(get, set), entry| {
            (
                get || entry.type_.allows_get(),
                set || entry.type_.allows_set(),
            )
        });
        match type_ {
            IqType::Get => get,
            IqType::Set => set,
            IqType::Both => get && set,
        }
    }

    /// Whether nothing at all is granted, as in the `<privilege/>` Prosody sends
    /// every user at login.
    pub fn is_empty(&self) -> bool {
        self.roster == RosterAccess::None
            && self.message == MessageAccess::None
            && self.presence == PresenceAccess::None
            && self.iq.is_empty()
    }
}

impl TryFrom<&Element> for Privilege {
    type Error = PrivilegeError;

    fn try_from(elem: &Element) -> Result<Privilege, PrivilegeError> {
        if elem.name() != "privilege" {
            return Err(PrivilegeError::WrongElement);
        }
        let version = Version::from_ns(&elem.ns()).ok_or(PrivilegeError::WrongElement)?;
        let ns = version.ns();

        let mut roster = None;
        let mut message = None;
        let mut presence = None;
        let mut iq = None;
        for perm in elem.children().filter(|child| child.is("perm", ns)) {
            let access = perm.attr("access").ok_or(PrivilegeError::MissingAccess)?;
            let type_ = perm.attr("type");
            match access {
                "roster" => set_once(&mut roster, access, parse_type(type_)?)?,
                "message" => set_once(&mut message, access, parse_type(type_)?)?,
                "presence" => set_once(&mut presence, access, parse_type(type_)?)?,
                // §6.2: the `iq` permission itself has no type, only its namespaces.
                "iq" => set_once(&mut iq, access, namespaces(perm, ns)?)?,
                // A kind this module cannot name grants nothing it could act on.
                _ => {}
            }
        }
        Ok(Privilege {
            version,
            roster: roster.unwrap_or_default(),
            message: message.unwrap_or_default(),
            presence: presence.unwrap_or_default(),
            iq: iq.unwrap_or_default(),
        })
    }
}

impl TryFrom<Element> for Privilege {
    type Error = PrivilegeError;

    fn try_from(elem: Element) -> Result<Privilege, PrivilegeError> {
        Privilege::try_from(&elem)
    }
}

impl From<Privilege> for Element {
    /// Writes the granted permissions only, in the order Prosody uses, with the
    /// `iq` namespaces side by side as §6.2 shows.
    fn from(privilege: Privilege) -> Element {
        let ns = privilege.version.ns();
        let mut builder = Element::builder("privilege", ns);
        if privilege.roster != RosterAccess::None {
            builder = builder.append(perm_element(ns, "roster", privilege.roster.as_str()));
        }
        if privilege.message != MessageAccess::None {
            builder = builder.append(perm_element(ns, "message", privilege.message.as_str()));
        }
        if privilege.presence != PresenceAccess::None {
            builder = builder.append(perm_element(ns, "presence", privilege.presence.as_str()));
        }
        if !privilege.iq.is_empty() {
            let perm = Element::builder("perm", ns)
                .attr(xml_ncname!("access").into(), "iq")
                .append_all(
                    privilege
                        .iq
                        .into_iter()
                        .map(|namespace| namespace_element(namespace, ns)),
                )
                .build();
            builder = builder.append(perm);
        }
        builder.build()
    }
}

/// The `<privilege/>` child of an advertisement `<message/>`, in either namespace.
///
/// Returns `None` unless `message` is a `<message/>` that is not of type `error`
/// and whose `from` is a bare domain, as both servers send it: a user's message
/// (its `from` has a `@`) must not be able to pass for the server's grant, and
/// ejabberd bounces a refused [`wrap_outgoing`] message from the server's domain
/// with its `<privilege/>` still inside. The caller must still check that `from` is
/// a server it is connected through, and parse the element with
/// [`Privilege::try_from`].
pub fn find(message: &Element) -> Option<&Element> {
    if message.name() != "message" || message.attr("type") == Some("error") {
        return None;
    }
    let from = message.attr("from")?;
    if from.is_empty() || from.contains(['@', '/']) {
        return None;
    }
    message
        .children()
        .find(|child| child.is("privilege", NS_V1) || child.is("privilege", NS_V2))
}

/// Wraps `inner` for sending on a user's behalf with the `message` permission
/// (§5.3): `<message xmlns='jabber:component:accept' from='{component}'
/// to='{server}'><privilege><forwarded xmlns='urn:xmpp:forward:0'>{inner}
/// </forwarded></privilege></message>`, `<privilege/>` in `version`'s namespace.
///
/// `inner` must be a `<message xmlns='jabber:client'/>` from a bare JID on `server`:
/// Prosody and ejabberd both refuse anything else, ejabberd from any other domain
/// than the one the message is sent to. The outer message has no `id`; set one to
/// match the error a server may send back.
pub fn wrap_outgoing(
    version: Version,
    component: &str,
    server: &str,
    inner: Element,
) -> Result<Element, PrivilegeError> {
    if !inner.is("message", NS_CLIENT) {
        return Err(PrivilegeError::NotClientMessage);
    }
    let from = inner.attr("from").ok_or(PrivilegeError::MissingFrom)?;
    if from.contains('/') {
        return Err(PrivilegeError::FromNotBare(from.to_owned()));
    }
    // A bare JID's domain is what follows its `@`; the server itself has none.
    let domain = from.split_once('@').map_or(from, |(_, domain)| domain);
    if !domain.eq_ignore_ascii_case(server) {
        return Err(PrivilegeError::FromNotOnServer {
            from: from.to_owned(),
            server: server.to_owned(),
        });
    }
    let forwarded = Element::builder("forwarded", NS_FORWARD)
        .append(inner)
        .build();
    let privilege = Element::builder("privilege", version.ns())
        .append(forwarded)
        .build();
    Ok(
        Element::builder("message", xmpp_parsers::ns::COMPONENT_ACCEPT)
            .attr(xml_ncname!("from").into(), component)
            .attr(xml_ncname!("to").into(), server)
            .append(privilege)
            .build(),
    )
}

fn unknown_type(access: &str, value: &str) -> PrivilegeError {
    PrivilegeError::UnknownType {
        access: access.to_owned(),
        value: value.to_owned(),
    }
}

/// Reads the `type` of a `roster`, `message` or `presence` permission; a missing
/// one grants nothing (see the module documentation).
fn parse_type<T>(value: Option<&str>) -> Result<T, PrivilegeError>
where
    T: FromStr<Err = PrivilegeError> + Default,
{
    value.map_or_else(|| Ok(T::default()), str::parse)
}

fn set_once<T>(slot: &mut Option<T>, access: &str, value: T) -> Result<(), PrivilegeError> {
    if slot.is_some() {
        return Err(PrivilegeError::DuplicatePerm(access.to_owned()));
    }
    *slot = Some(value);
    Ok(())
}

/// The `<namespace/>` elements under the `iq` permission `perm`, side by side or
/// nested (Prosody), in document order.
fn namespaces(perm: &Element, ns: &str) -> Result<Vec<IqNamespace>, PrivilegeError> {
    let mut found = Vec::new();
    // An explicit stack instead of recursion: this walk stays flat however deep
    // a peer nests.
    let mut stack = vec![perm.children()];
    while let Some(children) = stack.last_mut() {
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        if child.is("namespace", ns) {
            found.extend(IqNamespace::parse(child)?);
            stack.push(child.children());
        }
    }
    Ok(found)
}

fn perm_element(ns: &str, access: &str, type_: &str) -> Element {
    Element::builder("perm", ns)
        .attr(xml_ncname!("access").into(), access)
        .attr(xml_ncname!("type").into(), type_)
        .build()
}

fn namespace_element(namespace: IqNamespace, ns: &str) -> Element {
    Element::builder("namespace", ns)
        .attr(xml_ncname!("ns").into(), namespace.ns)
        .attr(xml_ncname!("type").into(), namespace.type_.as_str())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::samples::xml;

    /// Finds and parses the advertisement in a `<message/>` sample.
    fn advertised(message: &str) -> Privilege {
        let message = xml(message);
        Privilege::try_from(find(&message).unwrap()).unwrap()
    }

    /// Parses a `<privilege/>` sample, serialises the result and checks it is the
    /// same element.
    fn round_trip(sample: &str) -> Privilege {
        let elem = xml(sample);
        let privilege = Privilege::try_from(&elem).unwrap();
        assert_eq!(Element::from(privilege.clone()), elem);
        privilege
    }

    fn parse_err(sample: &str) -> PrivilegeError {
        Privilege::try_from(xml(sample)).unwrap_err()
    }

    fn prosody_grant() -> Privilege {
        Privilege {
            version: Version::V2,
            roster: RosterAccess::Both,
            message: MessageAccess::Outgoing,
            presence: PresenceAccess::Roster,
            iq: Vec::new(),
        }
    }

    // What Prosody 0.12.3 with mod_privilege (prosody-modules hg 2023-02-23) sends
    // right after the handshake, once per VirtualHost, for the grant
    // `{ roster = "both"; message = "outgoing"; presence = "roster"; }`.
    #[test]
    fn prosody_advertisement_is_found_and_round_trips() {
        let message = xml(r#"
  <message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='roster' type='both'/>
      <perm access='message' type='outgoing'/>
      <perm access='presence' type='roster'/>
    </privilege>
  </message>"#);
        let privilege = Privilege::try_from(find(&message).unwrap()).unwrap();
        assert_eq!(privilege, prosody_grant());
        assert!(privilege.roster.can_get() && privilege.roster.can_set());
        assert!(privilege.message.can_send());
        assert!(privilege.presence.includes_contacts());
        assert!(!privilege.is_empty());
        assert_eq!(Element::from(privilege), find(&message).unwrap().clone());
    }

    // Prosody with `iq = { ["http://jabber.org/protocol/pubsub"] = "both" }`: one
    // namespace, so nothing to nest yet.
    #[test]
    fn prosody_single_iq_namespace_round_trips() {
        let privilege = round_trip(
            r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='roster' type='both'/>
      <perm access='message' type='outgoing'/>
      <perm access='presence' type='roster'/>
      <perm access='iq'>
        <namespace ns='http://jabber.org/protocol/pubsub' type='both'/>
      </perm>
    </privilege>"#,
        );
        assert_eq!(
            privilege.iq,
            [IqNamespace::new(
                "http://jabber.org/protocol/pubsub",
                IqType::Both
            )]
        );
    }

    // Prosody with two namespaces granted: the second inside the first.
    #[test]
    fn prosody_nested_namespaces_are_flattened() {
        let privilege = advertised(
            r#"
  <message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='roster' type='both'/>
      <perm access='message' type='outgoing'/>
      <perm access='presence' type='roster'/>
      <perm access='iq'>
        <namespace ns='http://jabber.org/protocol/pubsub' type='get'>
          <namespace ns='urn:xmpp:mam:2' type='set'/>
        </namespace>
      </perm>
    </privilege>
  </message>"#,
        );
        assert_eq!(
            privilege.iq,
            [
                IqNamespace::new("http://jabber.org/protocol/pubsub", IqType::Get),
                IqNamespace::new("urn:xmpp:mam:2", IqType::Set),
            ]
        );
        assert!(privilege.iq_allows("urn:xmpp:mam:2", IqType::Set));
        assert!(!privilege.iq_allows("urn:xmpp:mam:2", IqType::Get));
    }

    // Three namespaces nest three levels deep; serialising writes them flat.
    #[test]
    fn three_nested_namespaces_serialise_flat() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='iq'>
        <namespace ns='http://jabber.org/protocol/pubsub' type='both'>
          <namespace ns='urn:xmpp:mam:2' type='get'>
            <namespace ns='jabber:iq:private' type='set'/>
          </namespace>
        </namespace>
      </perm>
    </privilege>"#))
        .unwrap();
        assert_eq!(
            privilege.iq,
            [
                IqNamespace::new("http://jabber.org/protocol/pubsub", IqType::Both),
                IqNamespace::new("urn:xmpp:mam:2", IqType::Get),
                IqNamespace::new("jabber:iq:private", IqType::Set),
            ]
        );
        assert_eq!(
            Element::from(privilege),
            xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='iq'>
        <namespace ns='http://jabber.org/protocol/pubsub' type='both'/>
        <namespace ns='urn:xmpp:mam:2' type='get'/>
        <namespace ns='jabber:iq:private' type='set'/>
      </perm>
    </privilege>"#)
        );
    }

    #[test]
    fn nested_and_side_by_side_namespaces_mix_in_document_order() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='iq'>
        <namespace ns='a' type='get'>
          <namespace ns='b' type='set'/>
          <namespace ns='c' type='both'>
            <namespace ns='d' type='get'/>
          </namespace>
        </namespace>
        <namespace ns='e' type='set'/>
      </perm>
    </privilege>"#))
        .unwrap();
        let names: Vec<&str> = privilege.iq.iter().map(|entry| entry.ns.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 5_000;
        let mut perm = Element::builder("namespace", NS_V2)
            .attr(xml_ncname!("ns").into(), format!("urn:example:{depth}"))
            .attr(xml_ncname!("type").into(), "get")
            .build();
        for level in (1..depth).rev() {
            perm = Element::builder("namespace", NS_V2)
                .attr(xml_ncname!("ns").into(), format!("urn:example:{level}"))
                .attr(xml_ncname!("type").into(), "get")
                .append(perm)
                .build();
        }
        let privilege = Element::builder("privilege", NS_V2)
            .append(
                Element::builder("perm", NS_V2)
                    .attr(xml_ncname!("access").into(), "iq")
                    .append(perm)
                    .build(),
            )
            .build();
        let parsed = Privilege::try_from(&privilege).unwrap();
        assert_eq!(parsed.iq.len(), depth);
        assert_eq!(parsed.iq[depth - 1].ns, format!("urn:example:{depth}"));
        // The deep element is dropped on a thread with room for minidom's own
        // recursive drop; this test is about parsing.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || drop(privilege))
            .unwrap()
            .join()
            .unwrap();
    }

    // What ejabberd 23.01 sends for the grant of SERVERS.md: message, roster,
    // presence in that order, each with a type.
    #[test]
    fn ejabberd_advertisement_parses() {
        let privilege = advertised(
            r#"
  <message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>
    <privilege xmlns='urn:xmpp:privilege:1'>
      <perm access='message' type='outgoing'/>
      <perm access='roster' type='both'/>
      <perm access='presence' type='roster'/>
    </privilege>
  </message>"#,
        );
        assert_eq!(
            privilege,
            Privilege {
                version: Version::V1,
                ..prosody_grant()
            }
        );
        // Written back in Prosody's order, in ejabberd's namespace.
        assert_eq!(
            Element::from(privilege),
            xml(r#"
    <privilege xmlns='urn:xmpp:privilege:1'>
      <perm access='roster' type='both'/>
      <perm access='message' type='outgoing'/>
      <perm access='presence' type='roster'/>
    </privilege>"#)
        );
    }

    // ejabberd writes `type='none'` for what it does not grant, as soon as it
    // grants anything at all.
    #[test]
    fn ejabberd_none_types_parse_and_are_not_written() {
        let privilege = advertised(
            r#"
  <message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>
    <privilege xmlns='urn:xmpp:privilege:1'>
      <perm access='message' type='none'/>
      <perm access='roster' type='get'/>
      <perm access='presence' type='managed_entity'/>
    </privilege>
  </message>"#,
        );
        assert_eq!(
            privilege,
            Privilege {
                roster: RosterAccess::Get,
                presence: PresenceAccess::ManagedEntity,
                ..Privilege::none(Version::V1)
            }
        );
        assert!(privilege.presence.includes_managed_entities());
        assert!(!privilege.presence.includes_contacts());
        assert!(!privilege.message.can_send());
        assert_eq!(
            Element::from(privilege),
            xml(r#"
    <privilege xmlns='urn:xmpp:privilege:1'>
      <perm access='roster' type='get'/>
      <perm access='presence' type='managed_entity'/>
    </privilege>"#)
        );
    }

    // XEP-0356 0.4.1 §7.5, "Server Advertises Roster, Message, Managed Entity
    // Presence and Roster Presence Privileges", with the namespace the component
    // stream gives the message.
    #[test]
    fn xep_v2_full_example_parses() {
        let privilege = advertised(
            r#"
<message xmlns='jabber:component:accept' from='capulet.net' to='pubub.capulet.lit' id='54321'>
  <privilege xmlns='urn:xmpp:privilege:2'>
    <perm access='roster' type='both' push='true'/>
    <perm access='message' type='none'/>
    <perm access='iq'>
      <namespace ns='http://jabber.org/protocol/pubsub' type='set' />
    </perm>
    <perm access='presence' type='roster'/>
  </privilege>
</message>"#,
        );
        assert_eq!(
            privilege,
            Privilege {
                version: Version::V2,
                roster: RosterAccess::Both,
                message: MessageAccess::None,
                presence: PresenceAccess::Roster,
                iq: vec![IqNamespace::new(
                    "http://jabber.org/protocol/pubsub",
                    IqType::Set
                )],
            }
        );
    }

    // XEP-0356 0.2 §5.2, "Server Advertises Roster And Message Privileges".
    #[test]
    fn xep_v1_example_round_trips() {
        let privilege = round_trip(
            r#"
    <privilege xmlns='urn:xmpp:privilege:1'>
        <perm access='roster' type='both'/>
        <perm access='message' type='outgoing'/>
    </privilege>"#,
        );
        assert_eq!(
            privilege,
            Privilege {
                roster: RosterAccess::Both,
                message: MessageAccess::Outgoing,
                ..Privilege::none(Version::V1)
            }
        );
    }

    // Prosody sends this to every user's full JID at initial presence, and to a
    // component listed in `privileged_entities` without a valid grant.
    #[test]
    fn empty_privilege_parses_to_nothing_granted() {
        let privilege = advertised(
            r#"
  <message xmlns='jabber:client' from='example.test' to='alice@example.test/laptop'>
    <privilege xmlns='urn:xmpp:privilege:2'/>
  </message>"#,
        );
        assert_eq!(privilege, Privilege::none(Version::V2));
        assert!(privilege.is_empty());
        assert_eq!(
            Element::from(privilege),
            xml("<privilege xmlns='urn:xmpp:privilege:2'/>")
        );
        // An `iq` permission without namespaces grants nothing either.
        assert!(Privilege::try_from(xml(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'/></privilege>"
        ))
        .unwrap()
        .is_empty());
    }

    #[test]
    fn unknown_access_is_ignored() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='mam' type='everything'/>
      <perm access='roster' type='get'/>
      <perm access='mam' type='get'/>
      <perm access='storage'><namespace ns='x' type='both'/></perm>
    </privilege>"#))
        .unwrap();
        assert_eq!(
            privilege,
            Privilege {
                roster: RosterAccess::Get,
                ..Privilege::none(Version::V2)
            }
        );
    }

    #[test]
    fn foreign_children_are_ignored() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm xmlns='urn:xmpp:privilege:1' access='roster' type='both'/>
      <note xmlns='urn:example'>hello</note>
      <perm access='iq'>
        <namespace xmlns='urn:example' ns='a' type='get'>
          <namespace xmlns='urn:xmpp:privilege:2' ns='b' type='get'/>
        </namespace>
        <namespace ns='c' type='set'><comment/></namespace>
      </perm>
    </privilege>"#))
        .unwrap();
        assert_eq!(privilege.roster, RosterAccess::None);
        // What sits inside a foreign element is not looked at.
        assert_eq!(privilege.iq, [IqNamespace::new("c", IqType::Set)]);
    }

    #[test]
    fn perm_without_type_grants_nothing() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:1'>
      <perm access='roster'/>
      <perm access='message'/>
      <perm access='presence'/>
    </privilege>"#))
        .unwrap();
        assert_eq!(privilege, Privilege::none(Version::V1));
    }

    // Prosody writes a namespace configured as "none" (or mistyped) without `type`.
    #[test]
    fn namespace_without_type_or_none_grants_nothing() {
        let privilege = Privilege::try_from(xml(r#"
    <privilege xmlns='urn:xmpp:privilege:2'>
      <perm access='iq'>
        <namespace ns='urn:xmpp:mam:2'>
          <namespace ns='jabber:iq:private' type='none'>
            <namespace ns='http://jabber.org/protocol/pubsub' type='get'/>
          </namespace>
        </namespace>
      </perm>
    </privilege>"#))
        .unwrap();
        assert_eq!(
            privilege.iq,
            [IqNamespace::new(
                "http://jabber.org/protocol/pubsub",
                IqType::Get
            )]
        );
        assert!(!privilege.iq_allows("urn:xmpp:mam:2", IqType::Get));
    }

    #[test]
    fn unknown_type_for_known_access_is_rejected() {
        let err = parse_err(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='outgoing'/></privilege>",
        );
        assert_eq!(
            err,
            PrivilegeError::UnknownType {
                access: "roster".to_owned(),
                value: "outgoing".to_owned(),
            }
        );
        assert_eq!(
            err.to_string(),
            "unknown type 'outgoing' for the 'roster' permission"
        );
        assert_eq!(
            parse_err(
                "<privilege xmlns='urn:xmpp:privilege:1'><perm access='message' type='both'/></privilege>"
            ),
            unknown_type("message", "both")
        );
        assert_eq!(
            parse_err(
                "<privilege xmlns='urn:xmpp:privilege:1'><perm access='presence' type='Roster'/></privilege>"
            ),
            unknown_type("presence", "Roster")
        );
        // Deep in a nested list, too.
        let err = parse_err(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>\
               <namespace ns='a' type='get'><namespace ns='b' type='outgoing'/></namespace>\
             </perm></privilege>",
        );
        assert_eq!(err, unknown_type("iq", "outgoing"));
        assert_eq!(
            err.to_string(),
            "unknown type 'outgoing' for the 'iq' permission"
        );
    }

    #[test]
    fn perm_without_access_is_rejected() {
        let err =
            parse_err("<privilege xmlns='urn:xmpp:privilege:2'><perm type='both'/></privilege>");
        assert_eq!(err, PrivilegeError::MissingAccess);
        assert_eq!(err.to_string(), "<perm/> has no 'access' attribute");
    }

    #[test]
    fn namespace_without_ns_is_rejected() {
        let err = parse_err(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'><namespace type='get'/></perm></privilege>",
        );
        assert_eq!(err, PrivilegeError::MissingNamespace);
        assert_eq!(
            err.to_string(),
            "<namespace/> of the 'iq' permission has no 'ns' attribute"
        );
        assert_eq!(
            parse_err(
                "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'><namespace ns='' type='get'/></perm></privilege>"
            ),
            PrivilegeError::MissingNamespace
        );
    }

    #[test]
    fn duplicate_perm_is_rejected() {
        let err = parse_err(
            "<privilege xmlns='urn:xmpp:privilege:2'>\
               <perm access='roster' type='get'/><perm access='roster' type='both'/>\
             </privilege>",
        );
        assert_eq!(err, PrivilegeError::DuplicatePerm("roster".to_owned()));
        assert_eq!(err.to_string(), "more than one <perm access='roster'/>");
        assert_eq!(
            parse_err(
                "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'/><perm access='iq'/></privilege>"
            ),
            PrivilegeError::DuplicatePerm("iq".to_owned())
        );
    }

    #[test]
    fn wrong_element_is_rejected() {
        let err = parse_err("<privilege xmlns='urn:xmpp:privilege:3'/>");
        assert_eq!(err, PrivilegeError::WrongElement);
        assert_eq!(
            err.to_string(),
            "expected <privilege/> in 'urn:xmpp:privilege:1' or 'urn:xmpp:privilege:2'"
        );
        assert_eq!(
            parse_err("<perm xmlns='urn:xmpp:privilege:2' access='roster' type='both'/>"),
            PrivilegeError::WrongElement
        );
    }

    #[test]
    fn flat_lists_round_trip_in_both_versions() {
        for version in [Version::V1, Version::V2] {
            let privilege = Privilege {
                version,
                roster: RosterAccess::Set,
                message: MessageAccess::Outgoing,
                presence: PresenceAccess::ManagedEntity,
                iq: vec![
                    IqNamespace::new("http://jabber.org/protocol/pubsub", IqType::Both),
                    IqNamespace::new("urn:xmpp:mam:2", IqType::Get),
                ],
            };
            let elem = Element::from(privilege.clone());
            assert_eq!(elem.ns(), version.ns());
            assert!(elem.children().all(|perm| perm.is("perm", version.ns())
                && perm.children().all(|child| child.has_ns(version.ns()))));
            assert_eq!(Privilege::try_from(elem), Ok(privilege));
        }
        assert_eq!(
            Element::from(IqNamespace::new("urn:xmpp:mam:2", IqType::Get)),
            xml("<namespace xmlns='urn:xmpp:privilege:2' ns='urn:xmpp:mam:2' type='get'/>")
        );
    }

    #[test]
    fn iq_allows_follows_the_granted_types() {
        let privilege = Privilege {
            iq: vec![
                IqNamespace::new("get-only", IqType::Get),
                IqNamespace::new("set-only", IqType::Set),
                IqNamespace::new("both", IqType::Both),
                IqNamespace::new("split", IqType::Get),
                IqNamespace::new("split", IqType::Set),
            ],
            ..Privilege::none(Version::V2)
        };
        for (ns, get, set, both) in [
            ("get-only", true, false, false),
            ("set-only", false, true, false),
            ("both", true, true, true),
            ("split", true, true, true),
            ("absent", false, false, false),
            ("jabber:iq:roster", false, false, false),
        ] {
            assert_eq!(privilege.iq_allows(ns, IqType::Get), get, "{ns} get");
            assert_eq!(privilege.iq_allows(ns, IqType::Set), set, "{ns} set");
            assert_eq!(privilege.iq_allows(ns, IqType::Both), both, "{ns} both");
        }
        assert!(!privilege.is_empty());
    }

    #[test]
    fn roster_access_table() {
        for (access, get, set) in [
            (RosterAccess::None, false, false),
            (RosterAccess::Get, true, false),
            (RosterAccess::Set, false, true),
            (RosterAccess::Both, true, true),
        ] {
            assert_eq!(access.can_get(), get, "{access}");
            assert_eq!(access.can_set(), set, "{access}");
        }
    }

    #[test]
    fn value_names_round_trip() {
        for access in [
            RosterAccess::None,
            RosterAccess::Get,
            RosterAccess::Set,
            RosterAccess::Both,
        ] {
            assert_eq!(access.as_str().parse(), Ok(access));
            assert_eq!(access.to_string(), access.as_str());
        }
        for access in [MessageAccess::None, MessageAccess::Outgoing] {
            assert_eq!(access.as_str().parse(), Ok(access));
            assert_eq!(access.to_string(), access.as_str());
        }
        for access in [
            PresenceAccess::None,
            PresenceAccess::ManagedEntity,
            PresenceAccess::Roster,
        ] {
            assert_eq!(access.as_str().parse(), Ok(access));
            assert_eq!(access.to_string(), access.as_str());
        }
        for type_ in [IqType::Get, IqType::Set, IqType::Both] {
            assert_eq!(type_.as_str().parse(), Ok(type_));
            assert_eq!(type_.to_string(), type_.as_str());
        }
        assert_eq!("none".parse::<IqType>(), Err(unknown_type("iq", "none")));
        for version in [Version::V1, Version::V2] {
            assert_eq!(Version::from_ns(version.ns()), Some(version));
            assert_eq!(version.to_string(), version.ns());
        }
        assert_eq!(Version::from_ns("urn:xmpp:privilege:3"), None);
    }

    #[test]
    fn find_accepts_only_server_advertisements() {
        let v1 = xml(
            "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
               <privilege xmlns='urn:xmpp:privilege:1'/></message>",
        );
        assert_eq!(find(&v1).map(Element::ns), Some(NS_V1.to_owned()));

        for (why, sample) in [
            (
                "a user cannot grant privileges",
                "<message xmlns='jabber:component:accept' from='mallory@example.test/x' to='game.example.test'>\
                   <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/></privilege></message>",
            ),
            (
                "nor can a resource of the server",
                "<message xmlns='jabber:component:accept' from='example.test/admin' to='game.example.test'>\
                   <privilege xmlns='urn:xmpp:privilege:2'/></message>",
            ),
            (
                "an advertisement has a sender",
                "<message xmlns='jabber:component:accept' to='game.example.test'>\
                   <privilege xmlns='urn:xmpp:privilege:2'/></message>",
            ),
            (
                "ejabberd bounces a refused forward with its payload",
                "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test' type='error'>\
                   <privilege xmlns='urn:xmpp:privilege:1'><forwarded xmlns='urn:xmpp:forward:0'/></privilege>\
                   <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
            ),
            (
                "Prosody answers a privileged IQ with <privilege/> in an <iq/>",
                "<iq xmlns='jabber:component:accept' from='example.test' to='game.example.test' type='result' id='1'>\
                   <privilege xmlns='urn:xmpp:privilege:2'/></iq>",
            ),
            (
                "an unknown version",
                "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
                   <privilege xmlns='urn:xmpp:privilege:3'/></message>",
            ),
            (
                "no payload",
                "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
                   <body>hi</body></message>",
            ),
        ] {
            assert_eq!(find(&xml(sample)), None, "{why}");
        }
    }

    fn invite() -> Element {
        xml(r#"
      <message xmlns='jabber:client' from='alice@example.test' to='bob@example.test' type='chat' id='inv1'>
        <body>Alice invites you to a game of chess.</body>
      </message>"#)
    }

    // §5.3, "privileged entity send a notification message", with our payload.
    #[test]
    fn wrap_outgoing_builds_the_forward() {
        assert_eq!(
            wrap_outgoing(Version::V2, "game.example.test", "example.test", invite()),
            Ok(xml(r#"
  <message xmlns='jabber:component:accept' from='game.example.test' to='example.test'>
    <privilege xmlns='urn:xmpp:privilege:2'>
      <forwarded xmlns='urn:xmpp:forward:0'>
        <message xmlns='jabber:client' from='alice@example.test' to='bob@example.test' type='chat' id='inv1'>
          <body>Alice invites you to a game of chess.</body>
        </message>
      </forwarded>
    </privilege>
  </message>"#))
        );

        let wrapped =
            wrap_outgoing(Version::V1, "game.example.test", "Example.Test", invite()).unwrap();
        let privilege = wrapped.get_child("privilege", NS_V1).unwrap();
        let inner = privilege
            .get_child("forwarded", NS_FORWARD)
            .and_then(|forwarded| forwarded.get_child("message", NS_CLIENT))
            .unwrap();
        assert_eq!(inner, &invite());
        // Written out, the inner message keeps its own namespace.
        let written = String::from(&wrapped);
        assert!(written.contains("xmlns='jabber:client'"), "{written}");

        // On behalf of the server itself (§5.1).
        let notice =
            xml("<message xmlns='jabber:client' from='example.test' to='bob@example.test'/>");
        assert!(wrap_outgoing(Version::V2, "game.example.test", "example.test", notice).is_ok());
    }

    #[test]
    fn wrap_outgoing_rejects_what_servers_refuse() {
        let wrap = |inner: &str| {
            wrap_outgoing(Version::V2, "game.example.test", "example.test", xml(inner))
        };
        let err = wrap(
            "<message xmlns='jabber:component:accept' from='alice@example.test' to='bob@example.test'/>",
        )
        .unwrap_err();
        assert_eq!(err, PrivilegeError::NotClientMessage);
        assert_eq!(
            err.to_string(),
            "the message to forward must be <message xmlns='jabber:client'/>"
        );
        assert_eq!(
            wrap("<presence xmlns='jabber:client' from='alice@example.test'/>"),
            Err(PrivilegeError::NotClientMessage)
        );

        let err = wrap("<message xmlns='jabber:client' to='bob@example.test'/>").unwrap_err();
        assert_eq!(err, PrivilegeError::MissingFrom);
        assert_eq!(
            err.to_string(),
            "the message to forward has no 'from' attribute"
        );

        let err =
            wrap("<message xmlns='jabber:client' from='alice@example.test/laptop'/>").unwrap_err();
        assert_eq!(
            err,
            PrivilegeError::FromNotBare("alice@example.test/laptop".to_owned())
        );
        assert_eq!(
            err.to_string(),
            "the message to forward is from 'alice@example.test/laptop', which is not a bare JID"
        );

        let err = wrap("<message xmlns='jabber:client' from='alice@other.test'/>").unwrap_err();
        assert_eq!(
            err,
            PrivilegeError::FromNotOnServer {
                from: "alice@other.test".to_owned(),
                server: "example.test".to_owned(),
            }
        );
        assert_eq!(
            err.to_string(),
            "the message to forward is from 'alice@other.test', not from a user of 'example.test'"
        );
    }
}
