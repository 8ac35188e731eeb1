//! `invite`: a platform invites a host's chat peers into one game session.
//!
//! Inputs: `host` (the inviting user), `invitees` (JIDs; left out: the host's active
//! peers right now), `game`, `session` (the platform's own id), and optionally `join`
//! (a URI the invitation carries), `expiry` (seconds; `invites.default_expiry_secs`
//! when left out, at most `invites.max_expiry_secs`) and `max-players` (the host
//! included).
//!
//! The host must be available (`chat` or `available`) and share with the platform;
//! otherwise the answer is `not-acceptable`, the same for a host who does not exist. Each
//! invitee must share with the platform (one who does not is reported as a JID never
//! heard of would be: `not-consenting` where users opt in, `not-a-contact` where they
//! opt out), be a mutual contact of the host, not have muted
//! the host's invitations, be online and not busy, and not have declined the host
//! `invites.declines_before_cooldown` times in a row lately; the host may send
//! `invites.per_host_per_hour` invitations an hour. Contacts on other servers are invited
//! where `privacy.remote_peers` allows them. When the host's active peers are used,
//! those who do not share with the platform are left out without a word.
//!
//! When an invitee had invited the host on this platform and waits for the host's
//! answer, no second invite is made: the host joins that invite (counted as accepted;
//! the platform is told) and its id is reported (`joined`).
//!
//! Output (FORM_TYPE [`FORM_TYPE`]): `invite` (the id of the host's session: the new
//! invite, or the one joined), `joined` (ids joined instead), `outcome`, `expires`, and a
//! table of the invitees with `result` (`sent`, `joined`, `already-invited`, `full`,
//! `not-available`, `not-consenting`, `muted`, `rate-limited`, `not-a-contact`,
//! `cooldown`) and the invite each belongs to.

use crate::rights::Platform;
use xmpp_parsers::jid::BareJid;

use super::doc::{AnswerDoc, Doc};
use super::execute;
use super::fields::Spec;
use super::gather::{gather, Gathered};
use super::invite_shared::carry;
use super::render::{cell, Answer, ResultWriter};
use super::served::served_user;
use super::{Ctx, Flow, Node, Waited};
use crate::directory::presence::Availability;
use crate::directory::{grants, unix_secs, Seen};
use crate::failure::{quote, Failure};
use crate::invites::plan::{self, Candidate, Create, Refusal, Row};
use crate::invites::Outcome;
use crate::rights::policy::Subject;
use crate::rights::uri::{self, UriUse};
use crate::rights::Right;
use crate::xep::datetime;
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:invite-created:1";

/// The answer's fields and columns.
const INVITE: Spec = Spec::new("invite", "Invite", FieldType::TextSingle);
const JOINED: Spec = Spec::new(
    "joined",
    "Joined the invitee's own invite",
    FieldType::TextSingle,
);
const OUTCOME: Spec = Spec::new("outcome", "Outcome", FieldType::TextSingle);
const EXPIRES: Spec = Spec::new("expires", "Answers until", FieldType::TextSingle);
const JID: Spec = Spec::new("jid", "Invitee", FieldType::JidSingle);
const RESULT: Spec = Spec::new("result", "Result", FieldType::TextSingle);
const SINCE: Spec = Spec::new(
    "since",
    "Linked since (already-invited)",
    FieldType::TextSingle,
);
/// The form's fields: who invites, whom, to what, for how long.
const HOST: Spec = Spec::jid("host", "Host")
    .required()
    .purpose("the inviting user");
/// Its label names the configured limit.
const INVITEES: Spec = Spec::new("invitees", "Invitees", FieldType::JidMulti);
const GAME: Spec = Spec::text("game", "Game").required().max(100, false);
const SESSION: Spec = Spec::text("session", "Your session id")
    .required()
    .max(200, false);
const JOIN: Spec = Spec::text("join", "Join link").max(execute::MAX_URI, false);
/// Its label names the configured bounds; its default, the configured expiry.
const EXPIRY: Spec = Spec::text("expiry", "Seconds to answer");
const MAX_PLAYERS: Spec = Spec::text("max-players", "Players at most");

/// The shortest expiry a platform may ask for.
pub const MIN_EXPIRY_SECS: u32 = 30;
/// Invitee JIDs read from a form, at most (more is refused before any is looked at).
const MAX_LISTED: usize = 100;

pub struct Invite;

pub struct InviteQuery {
    host: String,
    invitees: Option<Vec<String>>,
    game: String,
    session: String,
    join: Option<String>,
    expiry: Option<u32>,
    max_players: Option<u32>,
}

fn number(form: &DataForm, spec: &Spec, min: u32, max: u32) -> Result<Option<u32>, Failure> {
    let var = spec.var;
    let Some(value) = spec.value(form).map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(Failure::bad_request(format!(
            "the field \"{var}\" is {}; give a whole number from {min} to {max}",
            quote(value)
        ))),
    }
}

impl TryFrom<&DataForm> for InviteQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<InviteQuery, Failure> {
        let host = HOST
            .value(form)
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| HOST.missing())?
            .to_owned();
        // More than the configured limit is refused by the handler, which knows it; past
        // MAX_LISTED nothing more is read.
        let invitees = match form.field(INVITEES.var) {
            Some(field) => {
                let list: Vec<String> = field
                    .values
                    .iter()
                    .take(MAX_LISTED + 1)
                    .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
                    .filter(|v| !v.is_empty())
                    .take(MAX_LISTED + 1)
                    .map(str::to_owned)
                    .collect();
                (!list.is_empty()).then_some(list)
            }
            None => None,
        };
        Ok(InviteQuery {
            host,
            invitees,
            game: GAME.text_of(form)?.unwrap_or_default(),
            session: SESSION.text_of(form)?.unwrap_or_default(),
            join: JOIN.text_of(form)?,
            expiry: number(form, &EXPIRY, 1, u32::MAX)?,
            max_players: number(form, &MAX_PLAYERS, 2, 1_000)?,
        })
    }
}

impl Node for Invite {
    const NODE: &'static str = "invite";
    const NAME: &'static str = "Invite a player's chat peers to a game";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = InviteQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Invites users (or, without `invitees`, whoever the host is chatting with now) to a game session; each invitee is asked in their chat client, and the answers and the outcome come as news.",
        input: &[HOST, INVITEES, GAME, SESSION, JOIN, EXPIRY, MAX_PLAYERS],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Invite",
            fields: &[INVITE, JOINED, OUTCOME, EXPIRES],
            columns: &[JID, RESULT, INVITE, SINCE],
        },
    });

    fn form(ctx: &Ctx<'_, Platform>) -> Option<DataForm> {
        let settings = &ctx.settings.invites;
        let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
            .with_title("Invite to a game")
            .with_instructions("Who invites, whom (left empty: whoever the host is chatting with now), to what, and for how long.");
        form.push_field(HOST.blank());
        form.push_field(Field {
            label: Some(format!(
                "{} (at most {}; empty: the host's active peers)",
                INVITEES.label, settings.max_invitees
            )),
            ..INVITEES.blank()
        });
        form.push_field(GAME.blank());
        form.push_field(SESSION.blank());
        form.push_field(JOIN.blank());
        form.push_field(Field {
            label: Some(format!(
                "{} ({MIN_EXPIRY_SECS} to {})",
                EXPIRY.label, settings.max_expiry_secs
            )),
            values: vec![settings.default_expiry_secs.to_string()],
            ..EXPIRY.blank()
        });
        form.push_field(MAX_PLAYERS.blank());
        Some(form)
    }

    fn run(query: InviteQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let settings = &ctx.settings.invites;
        let host = served_user(&query.host, ctx.directory, &grants::NEEDED)?;
        ctx.caller.in_scope(host.as_str(), "invite for")?;
        let profile = &ctx.caller.profile;
        if let Some(join) = &query.join {
            let link = UriUse::GameLink {
                pages: &ctx.settings.url_schemes,
                launch: &profile.launch_schemes,
            };
            uri::check(join, "join", link)?;
        }
        let expiry = query.expiry.unwrap_or(settings.default_expiry_secs);
        if !(MIN_EXPIRY_SECS..=settings.max_expiry_secs).contains(&expiry) {
            return Err(Failure::bad_request(format!(
                "the field \"expiry\" is {expiry}; give {MIN_EXPIRY_SECS} to {} seconds",
                settings.max_expiry_secs
            )));
        }
        if let Some(list) = &query.invitees {
            if list.len() > settings.max_invitees {
                let listed = if list.len() > MAX_LISTED {
                    format!("more than {MAX_LISTED}")
                } else {
                    list.len().to_string()
                };
                return Err(Failure::bad_request(format!(
                    "the field \"invitees\" lists {listed} JIDs; an invite has at most {} here",
                    settings.max_invitees
                )));
            }
        }
        if !ctx.visible(host.as_str()) {
            // Exactly what a host who is offline, or does not exist, gets.
            return Err(host_unavailable(&host));
        }
        gather(host, Waited::default(), ctx, move |gathered, ctx| {
            create(query, expiry, gathered, ctx)
        })
    }
}

fn host_unavailable(host: &BareJid) -> Failure {
    Failure::not_acceptable(format!(
        "{} cannot host an invite now: a host must be online and available, and share with this platform",
        quote(host.as_str())
    ))
}

fn create(
    query: InviteQuery,
    expiry: u32,
    gathered: Gathered,
    ctx: &mut Ctx<'_, Platform>,
) -> Result<Flow<Platform>, Failure> {
    let Gathered {
        jid: host,
        active,
        peers,
        ..
    } = gathered;
    let Some(host_id) = active else {
        return Err(host_unavailable(&host));
    };
    let (platform, notify) = (ctx.caller.id.to_string(), ctx.caller.jid.to_string());
    let now = unix_secs(ctx.now);
    let settings = ctx.settings.invites.clone();
    let directory = ctx.directory;
    let mutual = directory
        .rosters
        .get(host_id)
        .map_or(&[][..], |r| &r.mutual);
    // The wanted invitees: as listed, or the host's active peers who share.
    let wanted: Vec<String> = match &query.invitees {
        Some(list) => list
            .iter()
            .map(|j| super::served::parse_user(j).map(|b| b.to_string()))
            .collect::<Result<_, _>>()?,
        None => peers
            .iter()
            .map(|p| directory.name(p.id).to_owned())
            .filter(|name| may_invite(ctx, name))
            .take(settings.max_invitees)
            .collect(),
    };
    let room = ctx
        .invites
        .invitations_left(host.as_str(), now, settings.per_host_per_hour) as usize;
    let mut candidates = Vec::with_capacity(wanted.len());
    for invitee in wanted {
        let refusal = refusal(ctx, host.as_str(), mutual, &invitee, now, &settings);
        candidates.push(Candidate {
            lang: Some(directory.lang(&invitee))
                .filter(|l| *l != crate::strings::Lang::En)
                .map(|l| l.tag().to_owned()),
            jid: invitee,
            refusal,
        });
    }
    let mut ids = Vec::new();
    for _ in 0..=candidates.len() {
        ids.push(ctx.new_id());
    }
    let mut ids = ids.into_iter();
    let created = plan::create(
        ctx.invites,
        Create {
            platform,
            notify,
            host: host.to_string(),
            game: query.game,
            session: query.session,
            join_uri: query.join,
            max_players: query.max_players,
            now,
            expires_at: now.saturating_add(expiry),
            candidates,
            room,
        },
        || ids.next().unwrap_or_default(),
    )
    .map_err(|refused| match refused {
        plan::Refused::Full => Failure::resource_constraint(
            "too many invites are open on this bridge; try again later",
        ),
        plan::Refused::TooMany => Failure::bad_request(format!(
            "an invite has at most {} invitees here",
            settings.max_invitees
        )),
    })?;
    ctx.disclose(host.as_str());
    for (jid, row) in &created.rows {
        if !matches!(row, Row::Refused(Refusal::NotConsenting)) {
            ctx.disclose(jid);
        }
    }
    let surviving = created.surviving().map(str::to_owned);
    let outcome = surviving.as_deref().and_then(|id| {
        ctx.invites
            .get(id)
            .map(|i| (i.outcome(), i.record.expires_at))
    });
    // What already links the host to an invitee: since when, and until when.
    let mut linked: Vec<Linked> = Vec::new();
    for (_, row) in &created.rows {
        if let Row::AlreadyInvited { invite } = row {
            if let Some(held) = ctx.invites.get(invite) {
                if !linked.iter().any(|l| l.invite == *invite) {
                    linked.push(Linked {
                        invite: invite.clone(),
                        since: held.record.created_at,
                        state: match (held.state(), held.outcome()) {
                            (crate::invites::State::Started, _) => "started",
                            (_, Outcome::Ready) => "ready",
                            _ => "waiting",
                        },
                        ends: if held.outcome() == Outcome::Waiting {
                            held.record.expires_at
                        } else {
                            ctx.invites.ends_at(&held.record)
                        },
                    });
                }
            }
        }
    }
    let answer = Created {
        linked,
        invite: surviving,
        joined: created.joined.clone(),
        // A new invite waits for answers; a joined one is ready, the host counting.
        outcome: match (&created.invite, outcome) {
            (Some(_), _) => Outcome::Waiting,
            (None, Some(_)) => Outcome::Ready,
            (None, None) => Outcome::Solo,
        },
        expires: match (&created.invite, outcome) {
            (Some(_), _) | (None, None) => now.saturating_add(expiry),
            (None, Some((_, at))) => at,
        },
        rows: created.rows.clone(),
    };
    carry(ctx, created.plan);
    Flow::done(answer)
}

/// Whether the asking platform may invite `user` (a bare JID): they share with it, or
/// are a contact on another server where the operator allows those.
fn may_invite(ctx: &Ctx<'_, Platform>, user: &str) -> bool {
    if ctx.directory.is_remote(user) {
        return ctx.directory.config.remote_peers
            && ctx
                .rights_of(Subject {
                    consenting: true,
                    remote: true,
                })
                .contains(Right::Invite);
    }
    ctx.visible(user) && ctx.rights_for(user, false).contains(Right::Invite)
}

/// Why `invitee` may not be sent `host`'s invitation, if so. Whether they share comes
/// first: of someone who does not, nothing else is told, and what is told is what a JID
/// the bridge never heard of gets (`not-consenting` where users opt in; where they opt
/// out, a stranger would share by default and is no contact: `not-a-contact`).
fn refusal(
    ctx: &Ctx<'_, Platform>,
    host: &str,
    mutual: &[crate::directory::UserId],
    invitee: &str,
    now: u32,
    settings: &crate::invites::InvitesConfig,
) -> Option<Refusal> {
    let directory = ctx.directory;
    if !may_invite(ctx, invitee) {
        return Some(if ctx.consent.by_default() {
            Refusal::NotAContact
        } else {
            Refusal::NotConsenting
        });
    }
    let contact = directory.id(invitee).is_some_and(|id| mutual.contains(&id));
    if !contact {
        return Some(Refusal::NotAContact);
    }
    if ctx.mutes.muted(invitee, host) {
        return Some(Refusal::Muted);
    }
    let available = directory.id(invitee).is_some_and(|id| {
        matches!(
            directory.seen(id, now),
            Seen::Online { availability, .. }
                if !matches!(availability, Availability::Dnd | Availability::Xa)
        )
    });
    if !available {
        return Some(Refusal::NotAvailable);
    }
    if settings.cooldown_secs > 0
        && ctx.invites.declined(
            invitee,
            host,
            settings.declines_before_cooldown,
            now.saturating_sub(settings.cooldown_secs),
        )
    {
        return Some(Refusal::Cooldown);
    }
    if !ctx.prompts.has_room_for(invitee) {
        return Some(Refusal::RateLimited);
    }
    None
}

/// An invite that already links the host to an invitee, as the platform is told of it.
struct Linked {
    invite: String,
    /// When it was made.
    since: u32,
    /// `waiting`, `ready` or `started`.
    state: &'static str,
    /// When it ends by itself: its expiry while it waits, else its session's end.
    ends: u32,
}

struct Created {
    /// The invites behind `already-invited` rows.
    linked: Vec<Linked>,
    invite: Option<String>,
    joined: Vec<String>,
    outcome: Outcome,
    expires: u32,
    rows: Vec<(String, Row)>,
}

impl Answer for Created {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Invite");
        out.field(&INVITE, self.invite.as_deref().unwrap_or(""));
        out.field(&JOINED, &self.joined.join(","));
        out.field(&OUTCOME, self.outcome.as_str());
        out.field(&EXPIRES, &datetime::format(u64::from(self.expires)));
        out.columns(&[JID, RESULT, INVITE, SINCE]);
        for (jid, row) in &self.rows {
            let since = match row {
                Row::AlreadyInvited { invite } => self
                    .linked
                    .iter()
                    .find(|l| l.invite == *invite)
                    .map(|l| datetime::format(u64::from(l.since)))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            out.row(&[
                cell(&JID, jid),
                cell(&RESULT, row.as_str()),
                cell(&INVITE, row.invite().unwrap_or("")),
                cell(&SINCE, &since),
            ]);
        }
    }

    fn summary(&self) -> String {
        let sent = self
            .rows
            .iter()
            .filter(|(_, r)| matches!(r, Row::Sent { .. }))
            .count();
        let others: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, r)| !matches!(r, Row::Sent { .. }))
            .map(|(j, r)| format!("{j}: {}", r.as_str()))
            .collect();
        let mut text = match &self.invite {
            Some(id) => format!(
                "invite {id}: {sent} invitation(s) sent, {}",
                self.outcome.as_str()
            ),
            None => "no invitation sent".to_owned(),
        };
        if !self.joined.is_empty() {
            text.push_str(&format!("; joined {}", self.joined.join(", ")));
        }
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join(", ")));
        }
        for linked in &self.linked {
            text.push_str(&format!(
                "; invite {} links them, {} since {}: end it with session-ended (or invite-cancel), or it ends by itself at {}",
                linked.invite,
                linked.state,
                datetime::format(u64::from(linked.since)),
                datetime::format(u64::from(linked.ends)),
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::store::Write;

    fn bench() -> Bench {
        Bench::friends()
    }

    #[test]
    fn invites_the_hosts_active_peers_and_messages_each() {
        let bench = bench();
        let ran = bench.run::<Invite>(
            &bench.platform(),
            &[
                ("host", &[&*jid("bob")]),
                ("game", &["Chess"]),
                ("session", &["s-1"]),
            ],
        );
        let prompts: Vec<&str> = ran
            .writes()
            .iter()
            .filter_map(|w| match w {
                Write::Prompt(p) => Some(p.user.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(prompts, [jid("carol"), jid("dave")]);
        assert!(
            matches!(ran.writes()[0], Write::Invite(ref i) if i.host == jid("bob") && i.game == "Chess")
        );
        let sent = ran.sent();
        let to: Vec<Option<&str>> = sent.iter().map(|m| m.attr("to")).collect();
        assert_eq!(to, [Some(&*jid("carol")), Some(&*jid("dave"))]);
        assert_eq!(ran.field("outcome"), ["waiting"]);
    }

    #[test]
    fn refuses_a_form_without_a_game_or_a_bad_number() {
        let bench = bench();
        let game = bench.platform();
        let ran = bench.run::<Invite>(&game, &[("host", &[&*jid("bob")]), ("session", &["s"])]);
        assert_eq!(ran.failure().text, "the form needs the field \"game\"");
        let ran = bench.run::<Invite>(
            &game,
            &[
                ("host", &[&*jid("bob")]),
                ("game", &["Go"]),
                ("session", &["s"]),
                ("max-players", &["1"]),
            ],
        );
        assert_eq!(
            ran.failure().text,
            "the field \"max-players\" is 1; give a whole number from 2 to 1000"
        );
        assert!(ran.writes().is_empty());
    }
}
