//! Closing an invite, three nodes sharing one path, each taking `invite` (its id):
//! - `invite-cancel`: the platform calls it off. Invitees still waiting are answered
//!   `cancelled` and told in their chat; the outcome is `cancelled`.
//! - `session-started`: the game began. Invitees still waiting are answered `closed`
//!   (an answer later gets an explanation). Where the platform holds `publish-gaming`
//!   and the server grants the bridge the `iq` privilege, the host and every invitee who
//!   accepted are shown playing the game (XEP-0196).
//! - `session-ended`: the game is over; what `session-started` published is cleared.
//!
//! Output (FORM_TYPE [`FORM_TYPE`]): `invite`, `state`, `outcome`, and `published` (how
//! many players' "now playing" was published or cleared; empty where it is not done,
//! with the reason in the summary).

use super::doc::{AnswerDoc, Doc};
use super::fields::Spec;
use super::gaming::{publish, publishable};
use super::invite_shared::{carry, find, invite_form, InviteId, INVITE_ID};
use super::render::{Answer, ResultWriter};
use super::{Ctx, Flow, Needs, Node, PrivilegedIq};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::invites::plan::{self, CloseError};
use crate::invites::{self, Outcome, State};
use crate::rights::Platform;
use crate::rights::Right;
use crate::store::Write;
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:invite-closed:1";

/// The answer's fields and columns.
const INVITE: Spec = Spec::new("invite", "Invite", FieldType::TextSingle);
const STATE: Spec = Spec::new("state", "State", FieldType::TextSingle);
const OUTCOME: Spec = Spec::new("outcome", "Outcome", FieldType::TextSingle);
const PUBLISHED: Spec = Spec::new(
    "published",
    "Players shown playing (or cleared)",
    FieldType::TextSingle,
);

/// The answer of the three.
const CLOSED: AnswerDoc = AnswerDoc {
    form_type: FORM_TYPE,
    title: "Invite closed",
    fields: &[INVITE, STATE, OUTCOME, PUBLISHED],
    columns: &[],
};

pub struct InviteCancel;
pub struct SessionStarted;
pub struct SessionEnded;

impl Node for InviteCancel {
    const NODE: &'static str = "invite-cancel";
    const NAME: &'static str = "Cancel an invite";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = InviteId;
    const DOC: Option<Doc> = Some(Doc {
        about: "Cancels an invite: invitees who have not answered are told it is off.",
        input: &[INVITE_ID],
        answer: CLOSED,
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(invite_form("Cancel an invite"))
    }

    fn run(query: InviteId, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        close(query, State::Cancelled, ctx)
    }
}

impl Node for SessionStarted {
    const NODE: &'static str = "session-started";
    const NAME: &'static str = "The invite's game session started";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = InviteId;
    const DOC: Option<Doc> = Some(Doc {
        about: "Says the invite's session started: the players are shown playing (XEP-0196) where the platform may publish.",
        input: &[INVITE_ID],
        answer: CLOSED,
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(invite_form("Session started"))
    }

    fn run(query: InviteId, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        close(query, State::Started, ctx)
    }
}

impl Node for SessionEnded {
    const NODE: &'static str = "session-ended";
    const NAME: &'static str = "The invite's game session ended";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = InviteId;
    const DOC: Option<Doc> = Some(Doc {
        about: "Says the invite's session ended: what session-started published is cleared.",
        input: &[INVITE_ID],
        answer: CLOSED,
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(invite_form("Session ended"))
    }

    fn run(query: InviteId, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        close(query, State::Ended, ctx)
    }
}

fn close(
    query: InviteId,
    state: State,
    ctx: &mut Ctx<'_, Platform>,
) -> Result<Flow<Platform>, Failure> {
    let (record, current, invitees) =
        crate::fetched!(find(ctx, &query.0), move |ctx| close(query, state, ctx));
    let now = unix_secs(ctx.now);
    let refused = |text: String| Err(Failure::not_acceptable(text));
    let id = record.id.clone();
    match plan::close(ctx.invites, &id, state, now) {
        Ok(plan) => carry(ctx, plan),
        Err(CloseError::Started) => {
            return refused(format!(
                "invite {id}'s session has started; it can only end now (session-ended)"
            ))
        }
        // Past its expiry an invite is no longer held, but a started session still ends.
        Err(CloseError::NotOpen) if current == State::Started && state == State::Ended => {
            ctx.out.write(Write::InviteState {
                id: id.clone(),
                state: state.as_str(),
                at: now,
            });
        }
        Err(CloseError::NotOpen) => {
            return refused(format!(
                "invite {id} is {} already",
                if current.is_open() {
                    "past its expiry"
                } else {
                    current.as_str()
                }
            ))
        }
    }
    // The players: the host and whoever accepted.
    let mut players = vec![record.host.clone()];
    players.extend(
        invitees
            .iter()
            .filter(|i| i.answer == Some(invites::Answer::Accepted))
            .map(|i| i.jid.clone()),
    );
    let outcome = match state {
        State::Cancelled => Outcome::Cancelled,
        _ => Outcome::of(
            state,
            invitees
                .iter()
                .map(|i| Some(i.answer.unwrap_or(invites::Answer::Closed))),
        ),
    };
    let closed = Closed {
        invite: id,
        state,
        outcome,
        published: None,
        note: None,
    };
    if state == State::Cancelled {
        return Flow::done(closed);
    }
    let game = (state == State::Started).then(|| {
        let mut fields = vec![("name", record.game.clone())];
        if let Some(uri) = &record.join_uri {
            fields.push(("uri", uri.clone()));
        }
        fields
    });
    match publishable(ctx.caller, ctx.consent, ctx.directory, &players) {
        Ok(players) => publish_each(players, game.unwrap_or_default(), 0, closed, ctx),
        Err(note) => Flow::done(Closed {
            note: Some(note),
            ..closed
        }),
    }
}

/// Publishes (or clears, with no fields) the game for each player in turn.
fn publish_each(
    mut players: Vec<String>,
    game: Vec<(&'static str, String)>,
    done: u32,
    closed: Closed,
    ctx: &mut Ctx<'_, Platform>,
) -> Result<Flow<Platform>, Failure> {
    let Some(player) = players.pop() else {
        return Flow::done(Closed {
            published: Some(done),
            ..closed
        });
    };
    let Ok(user) = player.parse::<xmpp_parsers::jid::BareJid>() else {
        return publish_each(players, game, done, closed, ctx);
    };
    ctx.disclose(&player);
    let needs = Needs {
        iq: Some(PrivilegedIq {
            user,
            set: true,
            payload: publish(&game),
        }),
        ..Needs::default()
    };
    Flow::wait(needs, move |ctx| {
        let ok = matches!(ctx.reply, Some(Ok(_)));
        publish_each(players, game, done + u32::from(ok), closed, ctx)
    })
}

struct Closed {
    invite: String,
    state: State,
    outcome: Outcome,
    published: Option<u32>,
    note: Option<&'static str>,
}

impl Answer for Closed {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Invite closed");
        out.field(&INVITE, &self.invite);
        out.field(&STATE, self.state.as_str());
        out.field(&OUTCOME, self.outcome.as_str());
        out.field(
            &PUBLISHED,
            &self.published.map(|n| n.to_string()).unwrap_or_default(),
        );
    }

    fn summary(&self) -> String {
        let mut text = format!(
            "invite {} is {} ({})",
            self.invite,
            self.state.as_str(),
            self.outcome.as_str()
        );
        match (self.published, self.note) {
            (Some(n), _) if self.state == State::Started => {
                text.push_str(&format!("; {n} player(s) shown playing"))
            }
            (Some(n), _) => text.push_str(&format!("; \"now playing\" cleared for {n}")),
            (None, Some(note)) if self.state != State::Cancelled => {
                text.push_str(&format!("; nothing published: {note}"))
            }
            _ => {}
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::invite::Invite;
    use crate::commands::testkit::{jid, Bench};

    fn bench() -> Bench {
        Bench::friends()
    }

    #[test]
    fn a_cancelled_invite_tells_the_waiting_invitees_and_cannot_be_cancelled_twice() {
        let mut bench = bench();
        let game = bench.platform();
        let invited = bench.run::<Invite>(
            &game,
            &[
                ("host", &[&*jid("bob")]),
                ("invitees", &[&*jid("carol")]),
                ("game", &["Go"]),
                ("session", &["s-2"]),
            ],
        );
        bench.commit(&invited);
        let id = invited.field("invite").remove(0);
        let ran = bench.run::<InviteCancel>(&game, &[("invite", &[&id])]);
        assert_eq!(ran.field("state"), ["cancelled"]);
        assert!(ran.writes().iter().any(|w| matches!(
            w,
            Write::InviteState {
                state: "cancelled",
                ..
            }
        )));
        assert!(ran
            .sent()
            .iter()
            .any(|m| m.attr("to") == Some(&*jid("carol"))));
        bench.commit(&ran);
        let again = bench.run::<InviteCancel>(&game, &[("invite", &[&id])]);
        assert_eq!(
            again.failure().text,
            format!("invite {id} is cancelled already")
        );
    }
}
