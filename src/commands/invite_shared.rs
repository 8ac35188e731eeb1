//! What the nodes about one invite share: the invite named in a form, found among the
//! asking platform's, and a plan of the invites' carried into the request's outputs.

use super::fields::Spec;
use super::{Ctx, Got};
use crate::directory::unix_secs;
use crate::failure::{quote, Failure};
use crate::invites::messages::Tell;
use crate::invites::plan::Plan;
use crate::invites::{self, How, State};
use crate::rights::Platform;
use crate::store::InviteRecord;
use crate::xep::forms::{DataForm, FormType};

/// The FORM_TYPE of the blank forms that ask for an invite.
pub const INVITE_FORM_TYPE: &str = "urn:xmpp-game-bridge:invite-status:1";

/// The invite asked about.
pub const INVITE_ID: Spec = Spec::text("invite", "Invite id")
    .required()
    .purpose("the invite's id");

/// An invite named in a form: the `invite` field.
pub struct InviteId(pub String);

impl TryFrom<&DataForm> for InviteId {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<InviteId, Failure> {
        let id = INVITE_ID
            .value(form)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| INVITE_ID.missing())?;
        Ok(InviteId(
            crate::failure::cut(id, 64)
                .unwrap_or_else(|| id.to_owned())
                .to_lowercase(),
        ))
    }
}

/// The blank form asking for an invite's id.
pub fn invite_form(title: &str) -> DataForm {
    let mut form = DataForm::new(FormType::Form, Some(INVITE_FORM_TYPE)).with_title(title);
    form.push_field(INVITE_ID.blank());
    form
}

/// One of the asking platform's invites: its record, state and invitees' answers
/// (`None`: waiting), from memory or, once it is over, from the database.
pub fn find(
    ctx: &Ctx<'_, Platform>,
    id: &str,
) -> Result<Got<(InviteRecord, State, Vec<Listed>)>, Failure> {
    let platform = &ctx.caller.id;
    let not_found =
        || Failure::item_not_found(format!("this platform has no invite {}", quote(id)));
    if let Some(invite) = ctx.invites.get(id) {
        if invite.record.platform != platform.as_str() {
            return Err(not_found());
        }
        let listed = invite
            .invitees
            .iter()
            .map(|i| Listed {
                jid: i.jid.clone(),
                answer: i.answer,
                how: i.how,
            })
            .collect();
        return Ok(Got::Ready((invite.record.clone(), invite.state(), listed)));
    }
    let record = crate::ready!(ctx.stored_invite(id))
        .filter(|r| r.platform == platform.as_str())
        .ok_or_else(not_found)?;
    let listed = crate::ready!(ctx.stored_invite_prompts(id))
        .into_iter()
        .map(|p| Listed {
            answer: p.answer.as_deref().and_then(invites::Answer::from_stored),
            how: p.how.as_deref().and_then(How::parse),
            jid: p.user,
        })
        .collect();
    let state = record.state;
    Ok(Got::Ready((record, state, listed)))
}

/// An invitee as listed.
pub struct Listed {
    pub jid: String,
    pub answer: Option<invites::Answer>,
    pub how: Option<How>,
}

/// Takes a plan on: its writes into the request's transaction, its notices, rendered
/// now from the book as it is, into the effects sent once they are stored.
pub fn carry<C>(ctx: &mut Ctx<'_, C>, plan: Plan) {
    let messages = Tell {
        component: ctx.component.as_str(),
        book: ctx.invites,
        directory: ctx.directory,
        registry: ctx.registry,
        now: unix_secs(ctx.now),
    }
    .messages(&plan.notices);
    for write in plan.writes {
        ctx.out.write(write);
    }
    for message in messages {
        ctx.out.send(message);
    }
}
