//! `answer`: a user answers a prompt (a platform's consent request). Reached four ways,
//! all ending here: the reply words `yes`/`no` (also `accept`, `decline`; with the
//! prompt's id, or alone when exactly one prompt waits), the command list in the
//! prompt's message (`prompt/<id>/yes`), the form in that message, and this command.
//! A prompt is resolved once; an answer to one that is answered, expired or unknown gets
//! a friendly explanation.

use minidom::rxml::xml_ncname;
use minidom::Element;

use super::render::{Answer, ResultWriter};
use super::request_consent::{ANSWER_FORM_TYPE, KIND};
use super::{Ctx, Effect, Flow, Node, Word};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::prompts::{self, Reply};
use crate::rights::consent::Choice;
use crate::rights::Access;
use crate::store::{PromptRecord, Write};
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

pub struct AnswerPrompt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerQuery {
    /// The prompt's id; `None`: the one waiting, if only one is.
    pub id: Option<String>,
    pub reply: Reply,
}

impl TryFrom<&DataForm> for AnswerQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<AnswerQuery, Failure> {
        let reply = form.value("answer").and_then(Reply::parse).ok_or_else(|| {
            Failure::bad_request("the form needs the field \"answer\": yes or no")
        })?;
        let id = form
            .value("prompt")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_lowercase);
        Ok(AnswerQuery { id, reply })
    }
}

impl Node for AnswerPrompt {
    const NODE: &'static str = "answer";
    const NAME: &'static str = "Answer a question from a platform";
    const ACCESS: Access = Access::User;
    const WORDS: &'static [Word] = &[
        Word {
            word: "yes",
            usage: "yes <id> / no <id>: answer a platform's question (the id can be left out when only one waits)",
        },
        Word { word: "no", usage: "" },
        Word { word: "accept", usage: "" },
        Word { word: "decline", usage: "" },
        Word { word: "y", usage: "" },
        Word { word: "n", usage: "" },
    ];
    type Query = AnswerQuery;

    fn form(_: &Ctx<'_>) -> Option<DataForm> {
        let mut form = DataForm::new(FormType::Form, Some(prompts::FORM_TYPE))
            .with_title("Answer a question")
            .with_instructions("The question's id, from its message, and your answer.");
        form.push_field(Field::text_single("prompt", "Question id", None));
        form.push_field(
            Field::list_single(
                "answer",
                "Your answer",
                vec![
                    crate::xep::forms::FieldOption::labelled("Yes", "yes"),
                    crate::xep::forms::FieldOption::labelled("No", "no"),
                ],
                None,
            )
            .required(),
        );
        Some(form)
    }

    fn words(word: &str, rest: &str) -> Result<AnswerQuery, Failure> {
        let reply = Reply::parse(word).ok_or_else(|| Failure::bad_request("say yes or no"))?;
        let id = rest.split_whitespace().next().map(str::to_lowercase);
        Ok(AnswerQuery { id, reply })
    }

    fn run(query: AnswerQuery, ctx: &mut Ctx<'_>) -> Result<Flow, Failure> {
        let user = ctx.user()?;
        let said = |text: String| Flow::done(Said { text });
        let prompt: PromptRecord = match &query.id {
            Some(id) => match ctx.prompts.get(id) {
                Some(p) if p.user == user => p.clone(),
                _ => return said(explain(ctx, &user, id)?),
            },
            None => {
                let waiting = ctx.prompts.pending_for(&user);
                match waiting.as_slice() {
                    [] => return said("Nothing is waiting for your answer.".to_owned()),
                    [one] => (*one).clone(),
                    several => {
                        let list: Vec<String> = several
                            .iter()
                            .map(|p| {
                                format!("\"{} {}\": {}", query.reply.as_str(), p.id, what(ctx, p))
                            })
                            .collect();
                        return said(format!(
                            "Several questions wait for your answer; say which: {}.",
                            list.join("; ")
                        ));
                    }
                }
            }
        };
        let now = unix_secs(ctx.now);
        ctx.tx.push(Write::PromptAnswer {
            id: prompt.id.clone(),
            answer: query.reply.as_str(),
            at: now,
            how: Some("chat"),
        });
        let name = platform_name(ctx, &prompt.platform);
        if prompt.kind == KIND {
            ctx.tx.push(Write::Consent(
                Choice {
                    user: user.clone(),
                    platform: Some(prompt.platform.clone()),
                    share: query.reply == Reply::Yes,
                },
                now,
            ));
        }
        ctx.effects.push(Effect::Send(tell_platform(
            ctx,
            &prompt,
            query.reply.as_str(),
        )));
        said(match query.reply {
            Reply::Yes => format!(
                "Thank you: {name} may now see you. Say \"privacy\" to change it any time."
            ),
            Reply::No => format!(
                "{name} will not see you, and will not ask again for a week. Say \"share {name}\" if you change your mind."
            ),
        })
    }
}

fn platform_name<'a>(ctx: &Ctx<'a>, jid: &'a str) -> &'a str {
    ctx.registry.name(jid)
}

/// What a waiting prompt asks, in a few words.
fn what(ctx: &Ctx<'_>, prompt: &PromptRecord) -> String {
    format!("{} asks to see you", platform_name(ctx, &prompt.platform))
}

/// Why `id` cannot be answered now.
fn explain(ctx: &Ctx<'_>, user: &str, id: &str) -> Result<String, Failure> {
    let stored = ctx.store.prompt(id).map_err(|e| {
        tracing::error!(error = %e, "cannot read prompts");
        Failure::internal()
    })?;
    Ok(match stored {
        Some(p) if p.user == user => match p.answer.as_deref() {
            Some("expired") => format!(
                "The question {id} expired before you answered; {} can ask again.",
                platform_name(ctx, &p.platform)
            ),
            Some(answer) => format!(
                "You already answered {answer} to {id}. Say \"privacy\" to change your mind."
            ),
            None => format!("The question {id} is being answered."),
        },
        _ => format!(
            "There is no question {} for you. Say \"privacy\" to see what you share.",
            crate::failure::cut(id, 12).unwrap_or_else(|| id.to_owned())
        ),
    })
}

/// The message telling the platform the answer (also used when a prompt expires).
pub fn tell_platform(ctx: &Ctx<'_>, prompt: &PromptRecord, answer: &str) -> Element {
    answer_message(ctx.component.as_str(), prompt, answer)
}

/// The message telling a prompt's platform its outcome: `yes`, `no` or `expired`.
pub fn answer_message(component: &str, prompt: &PromptRecord, answer: &str) -> Element {
    let ns = crate::core::stanza::NS_COMPONENT;
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
    fn write(&self, out: &mut ResultWriter) {
        out.begin(prompts::FORM_TYPE, "Your answer");
        out.field("result", "Result", FieldType::TextSingle, &self.text);
    }

    fn summary(&self) -> String {
        self.text.clone()
    }
}
