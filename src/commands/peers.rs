//! `peers`: the active chat peers of a user, for game platforms.
//!
//! Input: `jid` (the user), and optionally `format` (`form` or `compact`). Output: a
//! result form, FORM_TYPE [`FORM_TYPE`], with the user's `jid`, their own
//! `availability`, the `tier` used and the platform's `rights` for the user, and a
//! `<reported/>` table of peers (`jid`, `availability`, `status`, `last-activity`,
//! `remote`: `1` for a contact on another server, listed only where
//! `privacy.remote_peers` allows, and `rights`), most recent activity first. Compact:
//! `<peers/>` with the same attributes and one `<peer/>` per row, its status as text
//! (README, "Compact answers"). `last-activity` is the last exchange of
//! messages in the conversation tier and the last presence change in the presence tier.
//! It can be run in one step by sending the submitted form with `execute`.

use crate::rights::Platform;
use xmpp_parsers::jid::BareJid;

use super::doc::{AnswerDoc, Doc};
use super::fields::{blank_form, Spec};
use super::gather::{gather, listable, Gathered};
use super::render::{cell, compact_item, Answer, CompactWriter, ResultWriter};
use super::served::served_user;
use super::values::{availability_label, rights_other_than, rights_value};
use super::{Ctx, Flow, Node, Waited};
use crate::directory::grants;
use crate::directory::peers::{tier_for, Tier};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::rights::policy::Subject;
use crate::rights::Rights;
use crate::xep::datetime;
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:peers:1";

pub struct Peers;

/// The user asked about: the form's field, and the answer's.
pub const USER: Spec = Spec::jid("jid", "User")
    .required()
    .purpose("the user whose peers you want");
pub const AVAILABILITY: Spec = Spec::text("availability", "User's availability");
pub const TIER: Spec = Spec::text("tier", "Activity tier");
pub const RIGHTS: Spec = Spec::text("rights", "What this platform may do for the user");

/// The table's columns, one row per peer.
const PEER: Spec = Spec::jid("jid", "Peer");
const PEER_AVAILABILITY: Spec = Spec::text("availability", "Availability");
const PEER_STATUS: Spec = Spec::text("status", "Status");
const PEER_LAST_ACTIVITY: Spec = Spec::text("last-activity", "Last activity");
const PEER_REMOTE: Spec = Spec::new("remote", "On another server", FieldType::Boolean);
const PEER_RIGHTS: Spec = Spec::text("rights", "What this platform may do for the peer");

/// The user whose peers are wanted, as given.
pub struct PeersQuery {
    pub jid: String,
}

impl TryFrom<&DataForm> for PeersQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<PeersQuery, Failure> {
        Ok(PeersQuery {
            jid: USER.require(form)?.to_owned(),
        })
    }
}

impl Node for Peers {
    const NODE: &'static str = "peers";
    const NAME: &'static str = "Active chat peers of a user";
    type Caller = Platform;
    type Query = PeersQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Who a user is chatting with right now (their active chat peers), with each peer's availability and what the platform may do for them. A user who does not share with the platform reads as one the bridge never heard of.",
        input: &[USER],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Active chat peers",
            fields: &[USER, AVAILABILITY, TIER, RIGHTS],
            columns: &[PEER, PEER_AVAILABILITY, PEER_STATUS, PEER_LAST_ACTIVITY, PEER_REMOTE, PEER_RIGHTS],
        },
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(blank_form(
            FORM_TYPE,
            "Active chat peers",
            "The user whose active chat peers you want.",
            &[USER],
        ))
    }

    fn run(query: PeersQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let jid = served_user(&query.jid, ctx.directory, &grants::NEEDED)?;
        if !ctx.visible(jid.as_str()) {
            // Exactly what a user the bridge never heard of gets: nothing fetched,
            // nothing disclosed.
            return Flow::done(PeersAnswer {
                availability: availability_label(&ctx.directory.never_seen(jid.as_str())),
                tier: tier_for(ctx.directory, jid.as_str()),
                rights: ctx.rights_for(jid.as_str(), false),
                jid,
                peers: Vec::new(),
            });
        }
        answer(jid, Waited::default(), ctx)
    }
}

/// One listed peer.
struct Row {
    jid: String,
    availability: &'static str,
    status: Option<String>,
    last_activity: u32,
    remote: bool,
    rights: Rights,
}

struct PeersAnswer {
    jid: BareJid,
    availability: &'static str,
    tier: Tier,
    /// What the asking platform may do for the user.
    rights: Rights,
    peers: Vec<Row>,
}

impl Answer for PeersAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Active chat peers");
        out.field(&USER, self.jid.as_str());
        out.field(&AVAILABILITY, self.availability);
        out.field(&TIER, self.tier.as_str());
        out.field(&RIGHTS, rights_value(self.rights));
        // Answer-wide values (the tier) are top-level fields, not a column repeated in
        // every row; rights stay per row, since they depend on the peer.
        out.columns(&[
            PEER,
            PEER_AVAILABILITY,
            PEER_STATUS,
            PEER_LAST_ACTIVITY,
            PEER_REMOTE,
            PEER_RIGHTS,
        ]);
        for peer in &self.peers {
            out.row(&[
                cell(&PEER, &peer.jid),
                cell(&PEER_AVAILABILITY, peer.availability),
                cell(&PEER_STATUS, peer.status.as_deref().unwrap_or("")),
                cell(
                    &PEER_LAST_ACTIVITY,
                    &datetime::format(u64::from(peer.last_activity)),
                ),
                cell(&PEER_REMOTE, if peer.remote { "1" } else { "0" }),
                cell(&PEER_RIGHTS, rights_value(peer.rights)),
            ]);
        }
    }

    fn compact(&self, out: &mut CompactWriter<'_, '_>) -> bool {
        out.root(
            "peers",
            &[
                (USER.var, self.jid.as_str()),
                (AVAILABILITY.var, self.availability),
                (TIER.var, self.tier.as_str()),
                (RIGHTS.var, rights_value(self.rights)),
            ],
        );
        for peer in &self.peers {
            out.item(|xml| {
                compact_item(
                    xml,
                    "peer",
                    &[
                        (PEER.var, &peer.jid),
                        (PEER_AVAILABILITY.var, peer.availability),
                        (
                            PEER_LAST_ACTIVITY.var,
                            &datetime::format(u64::from(peer.last_activity)),
                        ),
                        (PEER_REMOTE.var, if peer.remote { "1" } else { "" }),
                        (PEER_RIGHTS.var, rights_other_than(peer.rights, self.rights)),
                    ],
                    peer.status.as_deref().unwrap_or(""),
                )
            });
        }
        true
    }

    fn summary(&self) -> String {
        let user = self.jid.as_str();
        if self.peers.is_empty() {
            return match self.availability {
                "chat" | "available" => format!("{user} has no active chat peers right now"),
                other => format!("{user} is {other}, so has no active chat peers"),
            };
        }
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| match &p.status {
                Some(status) => format!("{} ({}, \"{status}\")", p.jid, p.availability),
                None => format!("{} ({})", p.jid, p.availability),
            })
            .collect();
        format!("{user} is chatting with {}", peers.join(", "))
    }
}

fn answer(
    jid: BareJid,
    waited: Waited,
    ctx: &mut Ctx<'_, Platform>,
) -> Result<Flow<Platform>, Failure> {
    gather(jid, waited, ctx, |gathered, ctx| {
        let Gathered {
            jid, tier, peers, ..
        } = gathered;
        let directory = ctx.directory;
        let now = unix_secs(ctx.now);
        // Every peer listed shares with the platform (or is remote): two possible sets.
        let (local_rights, remote_rights) = (
            ctx.rights_of(Subject {
                consenting: true,
                remote: false,
            }),
            ctx.rights_of(Subject {
                consenting: true,
                remote: true,
            }),
        );
        let peers: Vec<Row> = peers
            .into_iter()
            .filter(|peer| listable(ctx, directory.name(peer.id)))
            .map(|peer| {
                let name = directory.name(peer.id);
                let remote = directory.is_remote(name);
                Row {
                    jid: name.to_owned(),
                    availability: peer.availability.as_str(),
                    status: peer.status,
                    last_activity: peer.last_activity,
                    remote,
                    rights: if remote { remote_rights } else { local_rights },
                }
            })
            .collect();
        ctx.disclose(jid.as_str());
        for peer in &peers {
            ctx.disclose(&peer.jid);
        }
        Flow::done(PeersAnswer {
            availability: availability_label(&directory.seen_by_name(jid.as_str(), now)),
            rights: ctx.rights_for(jid.as_str(), false),
            jid,
            tier,
            peers,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::directory::presence::Availability;
    use crate::rights::consent::Consent;
    use crate::rights::consent::ConsentPolicy;

    fn bench() -> Bench {
        let mut bench = Bench::new();
        bench.online("bob", Availability::Chat, None);
        bench.online("carol", Availability::Available, Some("Playing chess"));
        bench.online("dave", Availability::Away, None);
        bench.roster("bob", &["carol", "dave", "erin"]);
        bench
    }

    #[test]
    fn lists_the_available_peers_with_their_status_and_discloses_them() {
        let bench = bench();
        let ran = bench.run::<Peers>(&bench.platform(), &[("jid", &[&jid("bob")])]);
        assert_eq!(ran.field("availability"), ["chat"]);
        assert_eq!(ran.field("tier"), ["presence"]);
        let rows = ran.rows();
        assert_eq!(rows.len(), 1, "dave is away, erin offline: {rows:?}");
        assert_eq!(rows[0][0], ("jid".to_owned(), jid("carol")));
        assert_eq!(
            rows[0][2],
            ("status".to_owned(), "Playing chess".to_owned())
        );
        assert_eq!(ran.disclosed(), [jid("bob"), jid("carol")]);
        let compact = ran.compact();
        assert_eq!(compact.name(), "peers");
        assert_eq!(compact.attr("availability"), Some("chat"));
        let peer = compact.children().next().unwrap();
        assert_eq!(
            (peer.attr("jid"), peer.text()),
            (Some(&*jid("carol")), "Playing chess".to_owned())
        );
        assert!(ran
            .summary()
            .contains("is chatting with carol@example.test"));
    }

    #[test]
    fn a_user_who_does_not_share_is_answered_as_one_never_heard_of() {
        let mut bench = bench();
        bench.consent = Consent::new(ConsentPolicy::OptIn);
        let ran = bench.run::<Peers>(&bench.platform(), &[("jid", &[&jid("bob")])]);
        let never = bench.run::<Peers>(&bench.platform(), &[("jid", &[&jid("zed")])]);
        assert!(ran.rows().is_empty());
        assert!(ran.disclosed().is_empty());
        assert_eq!(ran.field("availability"), never.field("availability"));
        assert_eq!(ran.field("rights"), never.field("rights"));
    }

    #[test]
    fn without_a_fresh_roster_it_waits_for_one() {
        let mut bench = bench();
        bench.later(30 * 86_400);
        let ran = bench.run::<Peers>(&bench.platform(), &[("jid", &[&jid("bob")])]);
        let needs = ran.needs.as_ref().expect("it waits");
        assert_eq!(needs.roster, bench.directory.id(&jid("bob")));
    }
}
