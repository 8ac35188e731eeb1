//! `invite-status`: where one of the platform's invites stands.
//!
//! Input: `invite`. Output (FORM_TYPE [`FORM_TYPE`]): `invite`, `session`, `game`,
//! `host`, `state` (`open`, `started`, `ended`, `cancelled`), `outcome` (`waiting`,
//! `ready`, `solo`, `cancelled`), `created`, `expires`, and a table of the invitees with
//! their `answer` (`waiting`, `accepted`, `declined`, `expired`, `cancelled`, `closed`,
//! `full`) and `how` it came (`chat`, `platform`, `merge`). Another platform's invite
//! is answered as an unknown one.

use super::doc::{AnswerDoc, Doc};
use super::fields::Spec;
use super::invite_shared::{find, invite_form, InviteId, Listed, INVITE_ID};
use super::render::{cell, Answer, ResultWriter};
use super::{Ctx, Flow, Node};
use crate::failure::Failure;
use crate::invites::{self, How, Outcome, State};
use crate::rights::Platform;
use crate::rights::Right;
use crate::store::InviteRecord;
use crate::xep::datetime;
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:invite-status:1";

/// The answer's fields and columns.
const INVITE: Spec = Spec::new("invite", "Invite", FieldType::TextSingle);
const SESSION: Spec = Spec::new("session", "Session", FieldType::TextSingle);
const GAME: Spec = Spec::new("game", "Game", FieldType::TextSingle);
const HOST: Spec = Spec::new("host", "Host", FieldType::JidSingle);
const STATE: Spec = Spec::new("state", "State", FieldType::TextSingle);
const OUTCOME: Spec = Spec::new("outcome", "Outcome", FieldType::TextSingle);
const CREATED: Spec = Spec::new("created", "Created", FieldType::TextSingle);
const EXPIRES: Spec = Spec::new("expires", "Answers until", FieldType::TextSingle);
const JID: Spec = Spec::new("jid", "Invitee", FieldType::JidSingle);
const ANSWER: Spec = Spec::new("answer", "Answer", FieldType::TextSingle);
const HOW: Spec = Spec::new("how", "Answered through", FieldType::TextSingle);

pub struct InviteStatus;

impl Node for InviteStatus {
    const NODE: &'static str = "invite-status";
    const NAME: &'static str = "Where an invite stands";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = InviteId;
    const DOC: Option<Doc> = Some(Doc {
        about: "Where an invite stands: its state, its outcome, and each invitee's answer.",
        input: &[INVITE_ID],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Invite status",
            fields: &[
                INVITE, SESSION, GAME, HOST, STATE, OUTCOME, CREATED, EXPIRES,
            ],
            columns: &[JID, ANSWER, HOW],
        },
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(invite_form("Invite status"))
    }

    fn run(query: InviteId, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let (record, state, invitees) =
            crate::fetched!(find(ctx, &query.0), move |ctx| Self::run(query, ctx));
        Flow::done(Status {
            outcome: Outcome::of(state, invitees.iter().map(|i| i.answer)),
            record,
            state,
            invitees,
        })
    }
}

struct Status {
    record: InviteRecord,
    state: State,
    outcome: Outcome,
    invitees: Vec<Listed>,
}

impl Answer for Status {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        let r = &self.record;
        out.begin(FORM_TYPE, "Invite status");
        out.field(&INVITE, &r.id);
        out.field(&SESSION, &r.session);
        out.field(&GAME, &r.game);
        out.field(&HOST, &r.host);
        out.field(&STATE, self.state.as_str());
        out.field(&OUTCOME, self.outcome.as_str());
        out.field(&CREATED, &datetime::format(u64::from(r.created_at)));
        out.field(&EXPIRES, &datetime::format(u64::from(r.expires_at)));
        out.columns(&[JID, ANSWER, HOW]);
        for i in &self.invitees {
            out.row(&[
                cell(&JID, &i.jid),
                cell(&ANSWER, i.answer.map_or("waiting", invites::Answer::as_str)),
                cell(&HOW, i.how.map_or("", How::as_str)),
            ]);
        }
    }

    fn summary(&self) -> String {
        let answers: Vec<String> = self
            .invitees
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i.jid,
                    i.answer.map_or("waiting", invites::Answer::as_str)
                )
            })
            .collect();
        format!(
            "invite {} ({}, {}): {}, {}; {}",
            self.record.id,
            self.record.game,
            self.record.host,
            self.state.as_str(),
            self.outcome.as_str(),
            answers.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::Bench;

    #[test]
    fn an_invite_the_platform_does_not_have_is_not_found() {
        let bench = Bench::new();
        let ran = bench.run::<InviteStatus>(&bench.platform(), &[("invite", &["Nope"])]);
        assert_eq!(ran.failure().text, "this platform has no invite nope");
        let blank = bench.run::<InviteStatus>(&bench.platform(), &[("invite", &[" "])]);
        assert_eq!(
            blank.failure().text,
            "the form needs the field \"invite\": the invite's id"
        );
    }
}
