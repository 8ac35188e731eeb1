//! What a user's active peers need before they can be listed (their roster, presence
//! checks of their devices), fetched once; shared by `peers` and `invite`.

use xmpp_parsers::jid::BareJid;

use super::{Ctx, Flow, Needs, Waited};
use crate::directory::peers::{active_peers, tier_for, ActivePeer, Tier};
use crate::directory::{unix_secs, Seen, UserId};
use crate::failure::{quote, Failure};
use crate::rights::Platform;

/// What is known of a user once their roster and the presence checks are in.
pub struct Gathered {
    pub jid: BareJid,
    /// The user, when they are available (`chat` or `available`).
    pub active: Option<UserId>,
    pub tier: Tier,
    /// Their active peers, whoever they share with.
    pub peers: Vec<ActivePeer>,
}

/// Fetches what `jid`'s active peers need (the roster, presence checks) and then runs
/// `then` with them, once.
pub fn gather<K>(
    jid: BareJid,
    waited: Waited,
    ctx: &mut Ctx<'_, Platform>,
    then: K,
) -> Result<Flow<Platform>, Failure>
where
    K: FnOnce(Gathered, &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> + Send + 'static,
{
    let now = unix_secs(ctx.now);
    let directory = ctx.directory;
    // Only a user who may be available has active peers. For anyone else nothing is
    // fetched and nothing is kept: a platform asking about a million names grows nothing.
    let candidate = directory
        .id(jid.as_str())
        .filter(|&id| directory.might_be_active(id));
    let mut needs = Needs::default();
    if let Some(user) = candidate {
        // On a server that does not tell every departure, the user and the peers to be
        // listed are confirmed first (XEP-0199 pings), at most once per interval.
        if waited.may_check() && !directory.unconfirmed(user, now).is_empty() {
            needs.checks.push(user);
        }
        let max_age = directory.config.roster_max_age.as_secs() as u32;
        if !directory.rosters.is_fresh(user, now, max_age) {
            if waited.may_fetch_roster() {
                needs.roster = Some(user);
            } else if directory.rosters.peek(user).is_none() {
                return Err(match directory.rosters.refusal(user) {
                    Some(condition) => Failure::service_unavailable(format!(
                        "the chat server refused to give the roster of {} ({condition})",
                        quote(jid.as_str())
                    )),
                    None => Failure::remote_timeout(format!(
                        "the chat server did not send the roster of {} in time; try again",
                        quote(jid.as_str())
                    )),
                });
            }
            // A stale roster is better than none when the server did not answer.
        }
        if needs.roster.is_none() && waited.may_check() {
            let mutual = directory.rosters.peek(user).map_or(&[][..], |r| &r.mutual);
            needs.checks.extend(mutual.iter().copied().filter(|&peer| {
                peer != user
                    && directory.might_be_active(peer)
                    && !directory.unconfirmed(peer, now).is_empty()
                    && listable(ctx, directory.name(peer))
            }));
        }
    }
    if !needs.is_empty() {
        let waited = waited.after(&needs);
        return Flow::wait(needs, move |ctx| gather(jid, waited, ctx, then));
    }
    let active = candidate.filter(|&id| {
        matches!(directory.seen(id, now), Seen::Online { availability, .. } if availability.is_active())
    });
    let tier = tier_for(directory, jid.as_str());
    let peers = match active {
        None => Vec::new(),
        Some(user) => {
            let mutual = directory.rosters.get(user).map_or(&[][..], |r| &r.mutual);
            active_peers(directory, user, mutual, tier, now)
        }
    };
    then(
        Gathered {
            jid,
            active,
            tier,
            peers,
        },
        ctx,
    )
}

/// Whether a peer may be listed to the asking platform: a user of a served domain who
/// lets it see them, or a contact on another server (listed only where the operator
/// allows it, which the directory already applied).
pub fn listable(ctx: &Ctx<'_, Platform>, peer: &str) -> bool {
    ctx.directory.is_remote(peer) || ctx.visible(peer)
}
