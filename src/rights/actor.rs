//! Who asks: the [`Actor`] of a request, decided once by [`decide`] from the sender's JID
//! and what the operator configured, and the narrowed [`Caller`] types a node serves.
//!
//! **Security-sensitive.** Pure (no clock, no state, no I/O) and table-tested: the
//! front door (XMPP, or another) looks up what it knows of the sender ([`Known`]) and
//! this decides.

use std::sync::Arc;

use xmpp_parsers::jid::{BareJid, Jid};

use super::consent::Consent;
use super::platforms::Profile;

/// How a platform was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Its bare JID is a registered platform.
    Registry,
    /// The request carried a valid platform token.
    Token,
    /// It comes from a trusted domain (another component of the same server).
    TrustedDomain,
    /// Anyone else, where the operator lets public platforms in.
    Public,
}

/// A game platform asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub jid: Jid,
    /// The platform's identity: its registered bare JID (for a token, the platform it
    /// was issued to), else the sender's bare JID.
    pub id: BareJid,
    pub via: Via,
    pub authorized: bool,
    /// Its name, rights and the domains it may ask about.
    pub profile: Arc<Profile>,
}

impl Platform {
    /// Whether it may ask about users of `user`'s domain (`user` a bare JID).
    pub fn serves(&self, user: &str) -> bool {
        let domain = user.rsplit_once('@').map_or(user, |(_, d)| d);
        self.profile.serves(domain)
    }

    /// Refuses a request about `user` (a bare JID) outside the domains it may ask about;
    /// `doing` says what it asked ("invite for", "ask about").
    pub fn in_scope(&self, user: &str, doing: &str) -> Result<(), crate::failure::Failure> {
        if self.serves(user) {
            return Ok(());
        }
        let domain = user.rsplit_once('@').map_or(user, |(_, d)| d);
        Err(crate::failure::Failure::forbidden(format!(
            "this platform may not {doing} users of {domain}"
        )))
    }

    /// Whether it may see `user` (a bare JID of a served domain): the domains it may
    /// ask about, and the user's consent.
    pub fn sees(&self, consent: &Consent, user: &str) -> bool {
        self.serves(user) && consent.allows(user, self.id.as_str())
    }
}

/// A user of a served domain, from their own chat client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub jid: Jid,
}

impl User {
    /// Their bare JID.
    pub fn bare(&self) -> String {
        self.jid.to_bare().to_string()
    }
}

/// An operator listed in `admins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub jid: Jid,
}

/// Who sends a request, decided once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator(Operator),
    Platform(Platform),
    User(User),
    /// Anyone else.
    Stranger {
        jid: Jid,
    },
}

impl Actor {
    /// The full JID the request came from; command sessions are bound to it.
    pub fn jid(&self) -> &Jid {
        match self {
            Actor::Operator(Operator { jid })
            | Actor::Platform(Platform { jid, .. })
            | Actor::User(User { jid })
            | Actor::Stranger { jid } => jid,
        }
    }

    pub fn platform(&self) -> Option<&Platform> {
        match self {
            Actor::Platform(platform) => Some(platform),
            _ => None,
        }
    }

    pub fn is_platform(&self) -> bool {
        self.platform().is_some()
    }
}

/// Who may run a command node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The bridge's operators.
    Operator,
    /// Game platforms.
    Platform,
    /// Users of the served domains, about themselves.
    User,
    /// Users about themselves, and platforms on their behalf (an answer given in a
    /// game).
    UserOrPlatform,
    /// Anyone (test nodes).
    Anyone,
}

/// Whether `actor` may run a node that requires `access`.
pub fn admits(access: Access, actor: &Actor) -> bool {
    match access {
        Access::Operator => matches!(actor, Actor::Operator(_)),
        Access::Platform => actor.is_platform(),
        Access::User => matches!(actor, Actor::User(_)),
        Access::UserOrPlatform => matches!(actor, Actor::User(_)) || actor.is_platform(),
        Access::Anyone => true,
    }
}

/// The sentence a requester the node does not admit reads.
pub fn refusal(access: Access, node: &str) -> String {
    match access {
        Access::Operator => {
            format!("only the bridge's operators (admins in its configuration) may run \"{node}\"")
        }
        Access::Platform => {
            format!("only game platforms registered with this bridge may run \"{node}\"")
        }
        Access::User => {
            format!("only users of the chat server this bridge serves may run \"{node}\"")
        }
        Access::UserOrPlatform => format!(
            "only users of the chat server this bridge serves, and game platforms, may run \"{node}\""
        ),
        Access::Anyone => String::new(),
    }
}

/// Whom a node serves: the type its handler is given, narrowed from the [`Actor`] once
/// by the pipeline after the access check, so that a handler never checks again.
pub trait Caller: Clone + Send + 'static {
    /// Who the node admits.
    const ACCESS: Access;
    /// The caller `actor` is, if the node admits it.
    fn narrow(actor: &Actor) -> Option<Self>;
}

impl Caller for Platform {
    const ACCESS: Access = Access::Platform;
    fn narrow(actor: &Actor) -> Option<Platform> {
        actor.platform().cloned()
    }
}

impl Caller for User {
    const ACCESS: Access = Access::User;
    fn narrow(actor: &Actor) -> Option<User> {
        match actor {
            Actor::User(user) => Some(user.clone()),
            _ => None,
        }
    }
}

impl Caller for Operator {
    const ACCESS: Access = Access::Operator;
    fn narrow(actor: &Actor) -> Option<Operator> {
        match actor {
            Actor::Operator(operator) => Some(operator.clone()),
            _ => None,
        }
    }
}

/// A user about themselves, or a platform on a user's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOrPlatform {
    User(User),
    Platform(Platform),
}

impl Caller for UserOrPlatform {
    const ACCESS: Access = Access::UserOrPlatform;
    fn narrow(actor: &Actor) -> Option<UserOrPlatform> {
        match actor {
            Actor::User(user) => Some(UserOrPlatform::User(user.clone())),
            Actor::Platform(platform) => Some(UserOrPlatform::Platform(platform.clone())),
            _ => None,
        }
    }
}

/// Anyone (test nodes): the actor as decided.
impl Caller for Actor {
    const ACCESS: Access = Access::Anyone;
    fn narrow(actor: &Actor) -> Option<Actor> {
        Some(actor.clone())
    }
}

/// What the front door knows of a request's sender, looked up before [`decide`].
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The sender's bare JID is among the operator's `admins`.
    pub admin: bool,
    /// The request carries a valid token: the platform it was issued to.
    pub token: Option<(BareJid, Arc<Profile>)>,
    /// The sender's bare JID is a registered platform: whether it is authorized.
    pub registered: Option<(bool, Arc<Profile>)>,
    /// The sender's domain is one the operator trusts (a component of the server).
    pub trusted_domain: bool,
    /// The sender is an account of a served domain.
    pub served_user: bool,
    /// The operator lets anyone use the platform commands, unauthorized.
    pub public_platforms: bool,
}

/// Who sends a request from `from` to a node that requires `access`. An operator who is
/// also a platform is whichever the node asks for.
pub fn decide(from: &Jid, access: Access, known: Known) -> Actor {
    let jid = from.clone();
    let bare = from.to_bare();
    if access == Access::Operator && known.admin {
        return Actor::Operator(Operator { jid });
    }
    let platform = |id, via, authorized, profile| {
        Actor::Platform(Platform {
            jid: from.clone(),
            id,
            via,
            authorized,
            profile,
        })
    };
    if let Some((id, profile)) = known.token {
        return platform(id, Via::Token, true, profile);
    }
    if let Some((authorized, profile)) = known.registered {
        return platform(bare, Via::Registry, authorized, profile);
    }
    if known.trusted_domain {
        let profile = Arc::new(Profile::unregistered(bare.as_str(), true));
        return platform(bare, Via::TrustedDomain, true, profile);
    }
    if known.admin {
        return Actor::Operator(Operator { jid });
    }
    if access == Access::Platform && known.public_platforms {
        // Anyone may use the platform commands, as an unauthorized platform.
        let profile = Arc::new(Profile::unregistered(bare.as_str(), false));
        return platform(bare, Via::Public, false, profile);
    }
    if known.served_user {
        Actor::User(User { jid })
    } else {
        Actor::Stranger { jid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid() -> Jid {
        Jid::from_str("someone@example.test/r").unwrap()
    }

    fn profile(name: &str) -> Arc<Profile> {
        Arc::new(Profile::unregistered(name, true))
    }

    fn platform() -> Actor {
        Actor::Platform(Platform {
            jid: jid(),
            id: jid().to_bare(),
            via: Via::Registry,
            authorized: true,
            profile: profile("p"),
        })
    }

    /// What kind of actor, and how a platform came in.
    fn kind(actor: &Actor) -> String {
        match actor {
            Actor::Operator(_) => "operator".to_owned(),
            Actor::Platform(p) => format!("platform {:?} {} {}", p.via, p.authorized, p.id),
            Actor::User(_) => "user".to_owned(),
            Actor::Stranger { .. } => "stranger".to_owned(),
        }
    }

    #[test]
    fn who_asks_table() {
        let issued = BareJid::from_str("arcade@example.test").unwrap();
        let token = Known {
            token: Some((issued, profile("arcade"))),
            ..Known::default()
        };
        let registered = |authorized| Known {
            registered: Some((authorized, profile("someone"))),
            ..Known::default()
        };
        let admin = Known {
            admin: true,
            ..Known::default()
        };
        let admin_platform = Known {
            admin: true,
            ..registered(true)
        };
        let trusted = Known {
            trusted_domain: true,
            served_user: true,
            ..Known::default()
        };
        let user = Known {
            served_user: true,
            ..Known::default()
        };
        let public_user = Known {
            public_platforms: true,
            ..user.clone()
        };
        let me = "someone@example.test";
        let table: Vec<(Access, Known, String)> = vec![
            // A token names the platform it was issued to, whoever sends it.
            (
                Access::Platform,
                token.clone(),
                "platform Token true arcade@example.test".into(),
            ),
            (
                Access::User,
                token,
                "platform Token true arcade@example.test".into(),
            ),
            (
                Access::Platform,
                registered(true),
                format!("platform Registry true {me}"),
            ),
            (
                Access::Platform,
                registered(false),
                format!("platform Registry false {me}"),
            ),
            (
                Access::Platform,
                trusted.clone(),
                format!("platform TrustedDomain true {me}"),
            ),
            (
                Access::User,
                trusted,
                format!("platform TrustedDomain true {me}"),
            ),
            // An operator who is also a platform is whichever the node asks for.
            (Access::Operator, admin_platform.clone(), "operator".into()),
            (
                Access::Platform,
                admin_platform,
                format!("platform Registry true {me}"),
            ),
            (Access::Operator, admin.clone(), "operator".into()),
            (Access::Platform, admin, "operator".into()),
            // Public platforms: only for the platform nodes; a user stays a user elsewhere.
            (
                Access::Platform,
                public_user.clone(),
                format!("platform Public false {me}"),
            ),
            (Access::User, public_user, "user".into()),
            (Access::Platform, user.clone(), "user".into()),
            (Access::User, user, "user".into()),
            (Access::User, Known::default(), "stranger".into()),
            (Access::Operator, Known::default(), "stranger".into()),
        ];
        for (access, known, expected) in table {
            let what = format!("{access:?} {known:?}");
            assert_eq!(kind(&decide(&jid(), access, known)), expected, "{what}");
        }
    }

    #[test]
    fn access_table() {
        let operator = Actor::Operator(Operator { jid: jid() });
        let platform = platform();
        let user = Actor::User(User { jid: jid() });
        let stranger = Actor::Stranger { jid: jid() };
        let table = [
            (Access::Operator, &operator, true),
            (Access::Operator, &platform, false),
            (Access::Operator, &user, false),
            (Access::Operator, &stranger, false),
            (Access::Platform, &operator, false),
            (Access::Platform, &platform, true),
            (Access::Platform, &user, false),
            (Access::Platform, &stranger, false),
            (Access::User, &operator, false),
            (Access::User, &platform, false),
            (Access::User, &user, true),
            (Access::User, &stranger, false),
            (Access::UserOrPlatform, &operator, false),
            (Access::UserOrPlatform, &platform, true),
            (Access::UserOrPlatform, &user, true),
            (Access::UserOrPlatform, &stranger, false),
            (Access::Anyone, &stranger, true),
        ];
        for (access, actor, allowed) in table {
            assert_eq!(admits(access, actor), allowed, "{access:?} {actor:?}");
        }
    }

    /// A caller type narrows exactly the actors its access admits.
    #[test]
    fn narrowing_agrees_with_access() {
        fn check<C: Caller>(actor: &Actor) {
            assert_eq!(
                C::narrow(actor).is_some(),
                admits(C::ACCESS, actor),
                "{:?} {actor:?}",
                C::ACCESS
            );
        }
        let actors = [
            Actor::Operator(Operator { jid: jid() }),
            platform(),
            Actor::User(User { jid: jid() }),
            Actor::Stranger { jid: jid() },
        ];
        for actor in &actors {
            check::<Platform>(actor);
            check::<User>(actor);
            check::<Operator>(actor);
            check::<UserOrPlatform>(actor);
            check::<Actor>(actor);
        }
    }
}
