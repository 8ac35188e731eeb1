//! `pending`: the invitations of this platform waiting for a user, for a platform the
//! user just connected to (so it can ask the player in the game, and record the answer
//! with `answer`).
//!
//! Input: `jid` (the user). Output (FORM_TYPE [`FORM_TYPE`]): `jid`, and a table of the
//! invitations with `invite`, `host`, `game`, `session`, `join` and `expires`. A user who
//! does not share with the platform has none, as one who does not exist.

use super::doc::{AnswerDoc, Doc};
use super::fields::{blank_form, Spec};
use super::render::{cell, Answer, ResultWriter};
use super::served::parse_user;
use super::{Ctx, Flow, Node};
use crate::failure::Failure;
use crate::rights::Platform;
use crate::rights::Right;
use crate::store::InviteRecord;
use crate::xep::datetime;
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:pending:1";

/// The answer's fields and columns.
const JID: Spec = Spec::jid("jid", "User")
    .required()
    .purpose("the user whose invitations you want");
const INVITE: Spec = Spec::new("invite", "Invite", FieldType::TextSingle);
const HOST: Spec = Spec::new("host", "Host", FieldType::JidSingle);
const GAME: Spec = Spec::new("game", "Game", FieldType::TextSingle);
const SESSION: Spec = Spec::new("session", "Session", FieldType::TextSingle);
const JOIN: Spec = Spec::new("join", "Join link", FieldType::TextSingle);
const EXPIRES: Spec = Spec::new("expires", "Answers until", FieldType::TextSingle);

pub struct Pending;

pub struct PendingQuery {
    jid: String,
}

impl TryFrom<&DataForm> for PendingQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<PendingQuery, Failure> {
        Ok(PendingQuery {
            jid: JID.require(form)?.to_owned(),
        })
    }
}

impl Node for Pending {
    const NODE: &'static str = "pending";
    const NAME: &'static str = "Invitations waiting for a user";
    type Caller = Platform;
    const RIGHT: Option<Right> = Some(Right::Invite);
    type Query = PendingQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "The invitations waiting for a user's answer, from this platform.",
        input: &[JID],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Waiting invitations",
            fields: &[JID],
            columns: &[INVITE, HOST, GAME, SESSION, JOIN, EXPIRES],
        },
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(blank_form(
            FORM_TYPE,
            "Waiting invitations",
            "The user who just connected to your platform.",
            &[JID],
        ))
    }

    fn run(query: PendingQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        let jid = parse_user(&query.jid)?;
        let platform = &ctx.caller.id;
        let mut waiting = Vec::new();
        if ctx.visible(jid.as_str()) {
            for prompt in ctx.prompts.pending_for(jid.as_str()) {
                if let Some(invite) = ctx.invites.of_prompt(&prompt.id) {
                    if invite.record.platform == platform.as_str() {
                        waiting.push(invite.record.clone());
                    }
                }
            }
            ctx.disclose(jid.as_str());
        }
        Flow::done(Waiting {
            jid: jid.to_string(),
            invites: waiting,
        })
    }
}

struct Waiting {
    jid: String,
    invites: Vec<InviteRecord>,
}

impl Answer for Waiting {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Waiting invitations");
        out.field(&JID, &self.jid);
        out.columns(&[INVITE, HOST, GAME, SESSION, JOIN, EXPIRES]);
        for i in &self.invites {
            out.row(&[
                cell(&INVITE, &i.id),
                cell(&HOST, &i.host),
                cell(&GAME, &i.game),
                cell(&SESSION, &i.session),
                cell(&JOIN, i.join_uri.as_deref().unwrap_or("")),
                cell(&EXPIRES, &datetime::format(u64::from(i.expires_at))),
            ]);
        }
    }

    fn summary(&self) -> String {
        if self.invites.is_empty() {
            return format!("no invitation of yours waits for {}", self.jid);
        }
        let list: Vec<String> = self
            .invites
            .iter()
            .map(|i| {
                format!(
                    "{} from {} to {} (session {})",
                    i.id, i.host, i.game, i.session
                )
            })
            .collect();
        format!("{} is invited: {}", self.jid, list.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};

    #[test]
    fn a_user_with_no_invitation_has_none_and_is_disclosed() {
        let bench = Bench::new();
        let ran = bench.run::<Pending>(&bench.platform(), &[("jid", &[&jid("carol")])]);
        assert!(ran.rows().is_empty());
        assert_eq!(ran.disclosed(), [jid("carol")]);
        let missing = bench.run::<Pending>(&bench.platform(), &[]);
        assert_eq!(
            missing.failure().text,
            "the form needs the field \"jid\": the user whose invitations you want"
        );
    }
}
