//! `request-consent`: a platform asks a user to let it see them (account linking). The
//! user receives a prompt naming the platform and what it will see and do; their answer
//! is the consent record, and it proves to the platform that the player owns the JID.
//! The platform is told the answer by a message carrying a form
//! (FORM_TYPE [`ANSWER_FORM_TYPE`]).
//!
//! Inputs: `jid` (the user) and `reason` (optional, shown to the user). Output: `prompt`
//! (its id) and `result`: `sent`, `pending` (one is already waiting: its id is given),
//! `already-sharing`, or `declined-recently` (the user said no less than
//! [`COOLDOWN_SECS`] ago). To the platform, a user who does not exist is asked like any
//! other: nothing tells them apart. At most one request waits per user and platform.

use super::doc::{AnswerDoc, Doc};
use super::execute::{platform_name, Input};
use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::served::served_user;
use super::{Ctx, Flow, Node};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::prompts::{self, Question};
use crate::rights::Platform;
use crate::store::{PromptRecord, Write};
use crate::strings::{self, Lang};
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:request-consent:1";

/// The answer's fields and columns.
const JID: Spec = Spec::new("jid", "User", FieldType::JidSingle);
const PROMPT: Spec = Spec::new("prompt", "Request id", FieldType::TextSingle);
const RESULT: Spec = Spec::new("result", "Result", FieldType::TextSingle);
/// FORM_TYPE of the message that tells the platform the answer.
pub const ANSWER_FORM_TYPE: &str = crate::prompts::CONSENT_FORM_TYPE;
/// The kind of prompt in the database.
pub const KIND: &str = "consent";
/// How long a request waits for the user's answer.
pub const EXPIRY_SECS: u32 = 7 * 86_400;
/// After a user says no, the same platform may not ask again for this long.
pub const COOLDOWN_SECS: u32 = 7 * 86_400;

/// Why the platform asks, as the user reads it.
const REASON: Spec = Spec::text("reason", "Reason").max(300, false);

pub struct RequestConsent;

pub struct RequestConsentQuery {
    input: Input,
    reason: Option<String>,
}

impl TryFrom<&DataForm> for RequestConsentQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<RequestConsentQuery, Failure> {
        Ok(RequestConsentQuery {
            input: Input::read(form)?,
            reason: REASON.text_of(form)?,
        })
    }
}

impl Node for RequestConsent {
    const NODE: &'static str = "request-consent";
    const NAME: &'static str = "Ask a user to share with this platform";
    type Caller = Platform;
    type Query = RequestConsentQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Asks a user, in their chat client, whether they share with this platform; the answer (or its expiry, after 7 days) comes as news.",
        input: &[super::execute::USER, REASON],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Consent request",
            fields: &[JID, PROMPT, RESULT],
            columns: &[],
        },
    });

    fn run(
        query: RequestConsentQuery,
        ctx: &mut Ctx<'_, Platform>,
    ) -> Result<Flow<Platform>, Failure> {
        let user = served_user(&query.input.jid, ctx.directory, &[])?;
        ctx.caller.in_scope(user.as_str(), "ask about")?;
        let Platform { id, jid, .. } = ctx.caller;
        let answer = |prompt: Option<String>, result: &'static str| {
            Flow::done(Requested {
                user: user.to_string(),
                prompt,
                result,
            })
        };
        if ctx.visible(user.as_str()) {
            return answer(None, "already-sharing");
        }
        if let Some(waiting) = ctx.prompts.between(user.as_str(), id.as_str(), KIND) {
            return answer(Some(waiting.id.clone()), "pending");
        }
        let now = unix_secs(ctx.now);
        let refused = crate::fetched!(
            ctx.stored_refusal(
                (user.as_str(), id.as_str(), KIND),
                now.saturating_sub(COOLDOWN_SECS),
            ),
            move |ctx| Self::run(query, ctx)
        );
        if refused.is_some() {
            return answer(None, "declined-recently");
        }
        if !ctx.prompts.has_room_for(user.as_str()) {
            return Err(Failure::resource_constraint(
                "too many questions are waiting for answers; try again later",
            ));
        }
        let prompt_id = ctx.new_id();
        let name = platform_name(ctx).to_owned();
        let lang = ctx.directory.lang(user.as_str());
        let body = strings::consent_request(
            lang,
            &strings::ConsentRequest {
                platform: &name,
                reason: query.reason.as_deref(),
                id: &prompt_id,
                days: EXPIRY_SECS / 86_400,
            },
        );
        let title = strings::consent_title(lang, &name);
        let (yes, no) = strings::share_or_not(lang, &name);
        let message = prompts::message(&Question {
            id: &prompt_id,
            to: user.as_str(),
            from: ctx.component.as_str(),
            title: &title,
            body: &body,
            label: strings::your_answer(lang),
            yes: &yes,
            no,
            later: strings::not_now(lang),
            words: ("yes", "no"),
            lang: (lang != Lang::En).then_some(lang.tag()),
            ephemeral: false,
        });
        ctx.out.write(Write::Prompt(PromptRecord {
            reason: query.reason,
            ..PromptRecord::new(
                prompt_id.clone(),
                KIND,
                user.to_string(),
                id.to_string(),
                jid.to_string(),
                now,
                now.saturating_add(EXPIRY_SECS),
            )
        }));
        ctx.out.send(message);
        answer(Some(prompt_id), "sent")
    }
}

struct Requested {
    user: String,
    prompt: Option<String>,
    result: &'static str,
}

impl Answer for Requested {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Consent request");
        out.field(&JID, &self.user);
        out.field(&PROMPT, self.prompt.as_deref().unwrap_or(""));
        out.field(&RESULT, self.result);
    }

    fn summary(&self) -> String {
        match (self.result, &self.prompt) {
            ("sent", Some(id)) => format!(
                "asked {} to share (request {id}); you are told the answer by message",
                self.user
            ),
            ("pending", Some(id)) => format!("{} has not answered the request {id} yet", self.user),
            ("already-sharing", _) => format!("{} already shares with you", self.user),
            _ => format!("{} said no to you lately; ask again later", self.user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::rights::consent::Consent;
    use crate::rights::consent::ConsentPolicy;
    use crate::store::Write;

    #[test]
    fn asks_a_user_who_does_not_share_once() {
        let mut bench = Bench::new();
        bench.consent = Consent::new(ConsentPolicy::OptIn);
        let game = bench.platform();
        let ran = bench.run::<RequestConsent>(
            &game,
            &[
                ("jid", &[&jid("alice")]),
                ("reason", &["To find your friends"]),
            ],
        );
        assert_eq!(ran.field("result"), ["sent"]);
        assert!(matches!(ran.writes(), [Write::Prompt(p)] if p.user == jid("alice")));
        assert!(String::from(&ran.sent()[0]).contains("To find your friends"));
        bench.commit(&ran);
        let again = bench.run::<RequestConsent>(&game, &[("jid", &[&jid("alice")])]);
        assert_eq!(again.field("result"), ["pending"]);
        assert!(again.writes().is_empty());
    }
}
