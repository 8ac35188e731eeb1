//! `answer`: a user answers a prompt (a platform's consent request, or a game
//! invitation). Reached four ways, all ending here: the reply words `yes`/`no` (also
//! `accept`, `decline`; with the prompt's id, or alone when exactly one prompt of any
//! kind waits), the command list in the prompt's message (`prompt/<id>/accept`), the form
//! in that message, and this command. A prompt is resolved once; an answer to one that
//! is answered, expired, cancelled or unknown gets a friendly explanation.
//!
//! A platform records here an answer a player gave in the game to an invitation
//! (inputs `invite`, `jid`, `answer`); it is told like any other answer.

use crate::rights::{Caller, Platform, User, UserOrPlatform};
use minidom::rxml::xml_ncname;
use minidom::Element;

use super::doc::{AnswerDoc, Doc};
use super::fields::Spec;
use super::invite_shared::carry;
use super::render::{Answer, ResultWriter};
use super::request_consent::{ANSWER_FORM_TYPE, KIND};
use super::served::parse_user;
use super::{Ctx, Flow, Node, Word};
use crate::directory::unix_secs;
use crate::failure::{quote, Failure};
use crate::invites::{self, How};
use crate::prompts::{self, Reply};
use crate::rights::consent::Choice;
use crate::store::{PromptRecord, Write};
use crate::strings::{self, Closed, Lang, QuestionClosed};
use crate::xep::forms::{DataForm, Field, FieldOption, FieldType, FormType};

/// The form's fields: the answer, to a prompt (a user's) or to an invite for a player
/// (a platform's).
const REPLY: Spec = Spec::new(prompts::ANSWER_FIELD, "Your answer", FieldType::ListSingle)
    .required()
    .purpose("yes or no (accept or decline)");
const PROMPT: Spec = Spec::text(prompts::PROMPT_FIELD, "Id");
/// A platform's answer for a player: the invite, and who answered.
const INVITE_ANSWERED: Spec = Spec::text("invite", "Invite id")
    .required()
    .purpose("the invite answered");
const PLAYER: Spec = Spec::jid("jid", "Invitee")
    .required()
    .purpose("the invitee who answered");

/// The answer's fields and columns.
const INVITE: Spec = Spec::new("invite", "Invite", FieldType::TextSingle);
const INVITEE: Spec = Spec::new("invitee", "Invitee", FieldType::JidSingle);
const ANSWER: Spec = Spec::new("answer", "Answer", FieldType::TextSingle);
const OUTCOME: Spec = Spec::new("outcome", "Outcome", FieldType::TextSingle);
const RESULT: Spec = Spec::new("result", "Result", FieldType::TextSingle);

pub struct AnswerPrompt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerQuery {
    /// The prompt's id; `None`: the one waiting, if only one is.
    pub id: Option<String>,
    /// `None`: the form came back with its neutral choice ([`prompts::LATER`]);
    /// nothing is answered.
    pub reply: Option<Reply>,
    /// A platform's answer: the invite, and the invitee it answers for.
    pub invite: Option<String>,
    pub jid: Option<String>,
}

impl TryFrom<&DataForm> for AnswerQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<AnswerQuery, Failure> {
        let reply = match REPLY.value(form).map(str::trim) {
            Some(prompts::LATER) => None,
            value => Some(
                value
                    .and_then(Reply::parse)
                    .ok_or_else(|| REPLY.missing())?,
            ),
        };
        let short = |spec: &Spec| {
            spec.value(form)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| crate::failure::cut(v, 64).unwrap_or_else(|| v.to_owned()))
        };
        Ok(AnswerQuery {
            id: short(&PROMPT).map(|id| id.to_lowercase()),
            reply,
            invite: short(&INVITE_ANSWERED).map(|id| id.to_lowercase()),
            jid: PLAYER.value(form).map(str::to_owned),
        })
    }
}

impl Node for AnswerPrompt {
    const NODE: &'static str = "answer";
    const NAME: &'static str = "Answer an invitation or a question";
    type Caller = UserOrPlatform;
    const WORDS: &'static [Word] = &[
        Word {
            word: "accept",
            listed: true,
        },
        Word {
            word: "decline",
            listed: false,
        },
        Word {
            word: "yes",
            listed: true,
        },
        Word {
            word: "no",
            listed: false,
        },
        Word {
            word: "y",
            listed: false,
        },
        Word {
            word: "n",
            listed: false,
        },
    ];
    type Query = AnswerQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "Records the answer a player gave in the game to an invitation, as if given in the chat client.",
        input: &[REPLY, INVITE_ANSWERED, PLAYER],
        answer: AnswerDoc {
            form_type: invites::messages::FORM_TYPE,
            title: "Answer recorded",
            fields: &[INVITE, INVITEE, ANSWER, OUTCOME],
            columns: &[],
        },
    });

    fn form(ctx: &Ctx<'_, UserOrPlatform>) -> Option<DataForm> {
        let answer = Field {
            options: vec![
                FieldOption::labelled("Yes (accept)", "yes"),
                FieldOption::labelled("No (decline)", "no"),
            ],
            ..REPLY.blank()
        };
        if let UserOrPlatform::Platform(_) = ctx.caller {
            let mut form = DataForm::new(FormType::Form, Some(invites::messages::FORM_TYPE))
                .with_title("Record a player's answer")
                .with_instructions("The answer a player gave in the game to an invitation.");
            form.push_field(INVITE_ANSWERED.blank());
            form.push_field(PLAYER.blank());
            form.push_field(answer);
            return Some(form);
        }
        let mut form = DataForm::new(FormType::Form, Some(prompts::FORM_TYPE))
            .with_title("Answer")
            .with_instructions(
                "The id of the invitation or question, from its message, and your answer.",
            );
        form.push_field(PROMPT.blank());
        form.push_field(answer);
        Some(form)
    }

    fn words(word: &str, rest: &str) -> Result<AnswerQuery, Failure> {
        let reply = Reply::parse(word).ok_or_else(|| Failure::bad_request("say yes or no"))?;
        let id = rest.split_whitespace().next().map(|id| {
            let id = id.to_lowercase();
            crate::failure::cut(&id, 64).unwrap_or(id)
        });
        Ok(AnswerQuery {
            id,
            reply: Some(reply),
            invite: None,
            jid: None,
        })
    }

    fn run(
        query: AnswerQuery,
        ctx: &mut Ctx<'_, UserOrPlatform>,
    ) -> Result<Flow<UserOrPlatform>, Failure> {
        match ctx.caller {
            UserOrPlatform::Platform(platform) => in_game(query, platform, ctx),
            UserOrPlatform::User(user) => from_user(query, user, ctx),
        }
    }
}

pub fn from_user<C: Caller>(
    query: AnswerQuery,
    user: &User,
    ctx: &mut Ctx<'_, C>,
) -> Result<Flow<C>, Failure> {
    let user = user.bare();
    let lang = ctx.directory.lang(&user);
    let said = |text: String| Flow::done(Said { text });
    let prompt: PromptRecord = match &query.id {
        Some(id) => match ctx.prompts.get(id) {
            Some(p) if p.user == user => p.clone(),
            _ => return explain(ctx, user, id.clone(), lang),
        },
        None => {
            let waiting = ctx.prompts.pending_for(&user);
            match waiting.as_slice() {
                [] => return said(strings::waiting(lang, &[])),
                [one] => (*one).clone(),
                several => {
                    let lines: Vec<String> = several
                        .iter()
                        .map(|p| what(ctx, p, query.reply.unwrap_or(Reply::Yes), lang))
                        .collect();
                    return said(strings::waiting(lang, &lines));
                }
            }
        }
    };
    let Some(reply) = query.reply else {
        let words = match prompt.invite {
            Some(_) => ("accept", "decline"),
            None => (Reply::Yes.as_str(), Reply::No.as_str()),
        };
        return said(strings::still_waiting(lang, &prompt.id, words.0, words.1));
    };
    let now = unix_secs(ctx.now);
    if prompt.invite.is_some() {
        let answer = match reply {
            Reply::Yes => invites::Answer::Accepted,
            Reply::No => invites::Answer::Declined,
        };
        let Some(invite) = ctx.invites.of_prompt(&prompt.id).map(|i| i.record.clone()) else {
            return explain(ctx, user, prompt.id, lang);
        };
        let Some(plan) =
            invites::plan::answer(ctx.invites, &prompt.id, answer, Some(How::Chat), now)
        else {
            return explain(ctx, user, prompt.id, lang);
        };
        let full = plan.writes.iter().any(|w| {
            matches!(w, Write::PromptAnswer { answer, .. } if *answer == invites::Answer::Full.stored())
        });
        carry(ctx, plan);
        return said(if full {
            strings::closed(lang, Closed::Full, &invite.host, &invite.game, &prompt.id)
        } else {
            strings::answered(
                lang,
                answer == invites::Answer::Accepted,
                &invite.host,
                &invite.game,
                invite.join_uri.as_deref(),
            )
        });
    }
    ctx.out.write(Write::PromptAnswer {
        id: prompt.id.clone(),
        answer: reply.as_str(),
        at: now,
        how: Some(How::Chat.as_str()),
    });
    let name = platform_name(ctx, &prompt.platform);
    if prompt.kind == KIND {
        ctx.out.write(Write::Consent(
            Choice {
                user: user.clone(),
                platform: Some(prompt.platform.clone()),
                share: reply == Reply::Yes,
            },
            now,
        ));
    }
    ctx.out.send(tell_platform(ctx, &prompt, reply.as_str()));
    said(strings::consent_answered(lang, reply == Reply::Yes, name))
}

/// A platform records the answer a player gave in the game.
fn in_game(
    query: AnswerQuery,
    platform: &Platform,
    ctx: &mut Ctx<'_, UserOrPlatform>,
) -> Result<Flow<UserOrPlatform>, Failure> {
    let platform = &platform.id;
    let invite_id = query.invite.ok_or_else(|| INVITE_ANSWERED.missing())?;
    let jid = parse_user(query.jid.as_deref().ok_or_else(|| PLAYER.missing())?)?;
    let not_found = || {
        Failure::item_not_found(format!(
            "no open invite {} of this platform invites {}",
            quote(&invite_id),
            jid
        ))
    };
    let invite = ctx
        .invites
        .get(&invite_id)
        .filter(|i| i.record.platform == platform.as_str())
        .ok_or_else(not_found)?;
    let invitee = invite.invitee(jid.as_str()).ok_or_else(not_found)?;
    let record = invite.record.clone();
    if let Some(answer) = invitee.answer {
        return Flow::done(Recorded {
            invite: record.id,
            jid: jid.to_string(),
            answer,
            outcome: invite.outcome(),
            already: true,
        });
    }
    let answer = match query.reply {
        Some(Reply::Yes) => invites::Answer::Accepted,
        Some(Reply::No) => invites::Answer::Declined,
        None => return Err(REPLY.missing()),
    };
    let prompt = invitee.prompt.clone();
    let now = unix_secs(ctx.now);
    let plan = invites::plan::answer(ctx.invites, &prompt, answer, Some(How::Platform), now)
        .ok_or_else(not_found)?;
    let (answer, outcome) = plan
        .notices
        .iter()
        .find_map(|n| match n {
            invites::plan::Notice::Answer {
                answer, outcome, ..
            } => Some((*answer, *outcome)),
            _ => None,
        })
        .ok_or_else(Failure::internal)?;
    carry(ctx, plan);
    Flow::done(Recorded {
        invite: record.id,
        jid: jid.to_string(),
        answer,
        outcome,
        already: false,
    })
}

/// The platform's answer to its in-game answer.
struct Recorded {
    invite: String,
    jid: String,
    answer: invites::Answer,
    outcome: invites::Outcome,
    /// Answered before: nothing changed.
    already: bool,
}

impl Answer for Recorded {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(invites::messages::FORM_TYPE, "Answer recorded");
        out.field(&INVITE, &self.invite);
        out.field(&INVITEE, &self.jid);
        out.field(&ANSWER, self.answer.as_str());
        out.field(&OUTCOME, self.outcome.as_str());
    }

    fn summary(&self) -> String {
        if self.already {
            format!(
                "{} had already {} invite {}; nothing changed",
                self.jid,
                self.answer.as_str(),
                self.invite
            )
        } else {
            format!(
                "{} {} invite {}: {}",
                self.jid,
                self.answer.as_str(),
                self.invite,
                self.outcome.as_str()
            )
        }
    }
}

fn platform_name<'a, C>(ctx: &Ctx<'a, C>, jid: &'a str) -> &'a str {
    ctx.registry.name(jid)
}

/// A waiting prompt in a list: the words that answer it, and what it asks.
fn what<C>(ctx: &Ctx<'_, C>, prompt: &PromptRecord, reply: Reply, lang: Lang) -> String {
    if let Some(invite) = ctx.invites.of_prompt(&prompt.id) {
        return strings::waiting_line(lang, &invite.record.host, &invite.record.game, &prompt.id);
    }
    strings::waiting_question(
        lang,
        reply.as_str(),
        &prompt.id,
        platform_name(ctx, &prompt.platform),
    )
}

/// Why `id` cannot be answered now.
fn explain<C: Caller>(
    ctx: &mut Ctx<'_, C>,
    user: String,
    id: String,
    lang: Lang,
) -> Result<Flow<C>, Failure> {
    let said = |text: String| Flow::done(Said { text });
    let stored = {
        let (user, id) = (user.clone(), id.clone());
        crate::fetched!(ctx.stored_prompt(&id), move |ctx| explain(
            ctx, user, id, lang
        ))
    };
    let Some(p) = stored.filter(|p| p.user == user) else {
        let id = crate::failure::cut(&id, 12).unwrap_or_else(|| id.clone());
        return said(strings::question_closed(lang, QuestionClosed::Unknown(&id)));
    };
    if let Some(invite) = &p.invite {
        let record = match ctx.invites.get(invite) {
            Some(i) => Some(i.record.clone()),
            None => {
                let (user, id) = (user.clone(), id.clone());
                crate::fetched!(ctx.stored_invite(invite), move |ctx| explain(
                    ctx, user, id, lang
                ))
            }
        };
        let (host, game) = record
            .as_ref()
            .map_or(("?", "?"), |r| (r.host.as_str(), r.game.as_str()));
        let why = match p.answer.as_deref().and_then(invites::Answer::from_stored) {
            Some(invites::Answer::Expired) => Closed::Expired,
            Some(invites::Answer::Cancelled) => Closed::Cancelled,
            Some(invites::Answer::Closed) => Closed::Started,
            Some(invites::Answer::Full) => Closed::Full,
            Some(invites::Answer::Accepted) => Closed::Answered(true),
            Some(invites::Answer::Declined) => Closed::Answered(false),
            None => {
                return said(strings::question_closed(
                    lang,
                    QuestionClosed::Answering(&id),
                ))
            }
        };
        return said(strings::closed(lang, why, host, game, &id));
    }
    let why = match p.answer.as_deref() {
        Some("expired") => QuestionClosed::Expired(&id, platform_name(ctx, &p.platform)),
        Some(answer) => QuestionClosed::Answered(&id, answer),
        None => QuestionClosed::Answering(&id),
    };
    said(strings::question_closed(lang, why))
}

/// The message telling the platform the answer (also used when a prompt expires).
pub fn tell_platform<C>(ctx: &Ctx<'_, C>, prompt: &PromptRecord, answer: &str) -> Element {
    answer_message(ctx.component.as_str(), prompt, answer)
}

/// The message telling a prompt's platform its outcome: `yes`, `no` or `expired`.
pub fn answer_message(component: &str, prompt: &PromptRecord, answer: &str) -> Element {
    let ns = crate::wire::STREAM_NS;
    let text = match answer {
        "yes" => format!(
            "{} agreed to share with you (request {}).",
            prompt.user, prompt.id
        ),
        "no" => format!(
            "{} declined to share with you (request {}).",
            prompt.user, prompt.id
        ),
        _ => format!(
            "{} did not answer request {} in time.",
            prompt.user, prompt.id
        ),
    };
    let mut form =
        DataForm::new(FormType::Result, Some(ANSWER_FORM_TYPE)).with_title("Consent answer");
    let field = |var: &str, label: &str, type_: FieldType, value: &str| Field {
        var: Some(var.to_owned()),
        label: Some(label.to_owned()),
        type_: Some(type_),
        values: vec![value.to_owned()],
        ..Field::default()
    };
    form.push_field(field(
        "prompt",
        "Request id",
        FieldType::TextSingle,
        &prompt.id,
    ));
    form.push_field(field("jid", "User", FieldType::JidSingle, &prompt.user));
    form.push_field(field("answer", "Answer", FieldType::TextSingle, answer));
    Element::builder("message", ns)
        .attr(xml_ncname!("type").into(), "normal")
        .attr(xml_ncname!("from").into(), component)
        .attr(xml_ncname!("to").into(), prompt.notify.as_str())
        .append(Element::builder("body", ns).append(text).build())
        .append(
            Element::builder("thread", ns)
                .append(prompts::thread(&prompt.id))
                .build(),
        )
        .append(Element::from(form))
        .build()
}

/// A sentence back to the user.
struct Said {
    text: String,
}

impl Answer for Said {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(prompts::FORM_TYPE, "Your answer");
        out.field(&RESULT, &self.text);
    }

    fn summary(&self) -> String {
        self.text.clone()
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
    fn a_platform_records_a_players_answer_and_the_host_is_told() {
        let mut bench = bench();
        let game = bench.platform();
        let invited = bench.run::<Invite>(
            &game,
            &[
                ("host", &[&*jid("bob")]),
                ("invitees", &[&*jid("dave")]),
                ("game", &["Chess"]),
                ("session", &["s-1"]),
            ],
        );
        bench.commit(&invited);
        let id = invited.field("invite").remove(0);
        let caller = UserOrPlatform::Platform(game);
        let ran = bench.run::<AnswerPrompt>(
            &caller,
            &[
                ("invite", &[&id]),
                ("jid", &[&*jid("dave")]),
                ("answer", &["no"]),
            ],
        );
        assert!(ran
            .writes()
            .iter()
            .any(|w| matches!(w, Write::PromptAnswer { answer: "no", .. })));
        assert!(ran
            .sent()
            .iter()
            .any(|m| m.attr("to") == Some(&*jid("bob"))));
        let unknown = bench.run::<AnswerPrompt>(&caller, &[("answer", &["maybe"])]);
        assert_eq!(
            unknown.failure().text,
            "the form needs the field \"answer\": yes or no (accept or decline)"
        );
    }

    #[test]
    fn a_user_answers_in_words_with_or_without_the_id() {
        let mut bench = bench();
        let invited = bench.run::<Invite>(
            &bench.platform(),
            &[
                ("host", &[&*jid("bob")]),
                ("invitees", &[&*jid("dave")]),
                ("game", &["Chess"]),
                ("session", &["s-1"]),
            ],
        );
        bench.commit(&invited);
        let dave = UserOrPlatform::User(bench.user("dave"));
        let ran = bench.say::<AnswerPrompt>(&dave, "accept", "");
        assert!(
            ran.summary()
                .starts_with("You accepted bob@example.test's invitation to Chess"),
            "{}",
            ran.summary()
        );
        assert!(ran
            .writes()
            .iter()
            .any(|w| matches!(w, Write::PromptAnswer { answer: "yes", .. })));
    }
}
