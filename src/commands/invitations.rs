//! `invitations`: a user's game invitations waiting for an answer, listed and answered
//! from their own client. The chat word `invitations` lists them; the command's form
//! offers them to pick one and answer it, which is the same as any other answer.

use super::answer::{from_user, AnswerQuery};
use super::fields::Spec;
use super::render::{cell, Answer, ResultWriter};
use super::{Ctx, Flow, Node, Word};
use crate::failure::Failure;
use crate::prompts::{self, Reply};
use crate::rights::User;

use crate::strings;
use crate::xep::forms::{DataForm, Field, FieldOption, FieldType, FormType};

/// The form's fields: which invitation, and the answer.
const PROMPT: Spec = Spec::new("prompt", "Invitation", FieldType::ListSingle).required();
const ANSWER: Spec = Spec::new("answer", "Your answer", FieldType::ListSingle).required();

/// The answer's fields and columns.
const RESULT: Spec = Spec::new("result", "Invitations", FieldType::TextMulti);
/// The table: each waiting invitation's id and what it says.
const ID: Spec = Spec::new("id", "Id", FieldType::TextSingle);
const LINE: Spec = Spec::new("invitation", "Invitation", FieldType::TextSingle);

pub struct Invitations;

pub struct InvitationsQuery {
    prompt: Option<String>,
    reply: Option<Reply>,
}

impl TryFrom<&DataForm> for InvitationsQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<InvitationsQuery, Failure> {
        Ok(InvitationsQuery {
            prompt: PROMPT
                .value(form)
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| crate::failure::cut(p, 64).unwrap_or_else(|| p.to_owned())),
            reply: ANSWER.value(form).and_then(Reply::parse),
        })
    }
}

/// A user's waiting invitations: (prompt id, one line about it).
fn waiting(ctx: &Ctx<'_, User>, user: &str, lang: strings::Lang) -> Vec<(String, String)> {
    waiting_titled(ctx, user, lang)
        .into_iter()
        .map(|(id, line, _)| (id, line))
        .collect()
}

/// Each waiting invitation: its id, its line in a list (with the words that answer it),
/// and its title.
fn waiting_titled(
    ctx: &Ctx<'_, User>,
    user: &str,
    lang: strings::Lang,
) -> Vec<(String, String, String)> {
    ctx.prompts
        .pending_for(user)
        .into_iter()
        .filter_map(|p| {
            let invite = &ctx.invites.of_prompt(&p.id)?.record;
            Some((
                p.id.clone(),
                strings::waiting_line(lang, &invite.host, &invite.game, &p.id),
                strings::invitation_title(lang, &invite.host, &invite.game),
            ))
        })
        .collect()
}

impl Node for Invitations {
    const NODE: &'static str = "invitations";
    const NAME: &'static str = "My game invitations";
    type Caller = User;
    const WORDS: &'static [Word] = &[Word {
        word: "invitations",
        listed: true,
    }];
    type Query = InvitationsQuery;

    fn form(ctx: &Ctx<'_, User>) -> Option<DataForm> {
        let user = ctx.caller.bare();
        let lang = ctx.directory.lang(&user);
        let options: Vec<FieldOption> = waiting(ctx, &user, lang)
            .into_iter()
            .map(|(id, line)| FieldOption::labelled(line, id))
            .collect();
        let (accept, decline) = strings::accept_decline(lang);
        let form =
            DataForm::new(FormType::Form, Some(prompts::FORM_TYPE)).with_title("Game invitations");
        if options.is_empty() {
            return Some(form.with_instructions(strings::waiting_list(lang, &[])));
        }
        let mut form = form.with_instructions("Pick an invitation and answer it.");
        form.push_field(Field {
            options,
            ..PROMPT.blank()
        });
        form.push_field(Field {
            options: vec![
                FieldOption::labelled(accept, "accept"),
                FieldOption::labelled(decline, "decline"),
            ],
            ..ANSWER.blank()
        });
        Some(form)
    }

    fn words(_: &str, _: &str) -> Result<InvitationsQuery, Failure> {
        Ok(InvitationsQuery {
            prompt: None,
            reply: None,
        })
    }

    fn run(query: InvitationsQuery, ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
        if let Some(reply) = query.reply {
            return from_user(
                AnswerQuery {
                    id: query.prompt,
                    reply: Some(reply),
                    invite: None,
                    jid: None,
                },
                ctx.caller,
                ctx,
            );
        }
        let user = ctx.caller.bare();
        let lang = ctx.directory.lang(&user);
        let waiting = waiting_titled(ctx, &user, lang);
        let lines: Vec<String> = waiting.iter().map(|(_, l, _)| l.clone()).collect();
        Flow::done(Listed {
            text: strings::waiting_list(lang, &lines),
            waiting: waiting
                .into_iter()
                .map(|(id, _, title)| (id, title))
                .collect(),
        })
    }
}

struct Listed {
    text: String,
    /// (prompt id, its title)
    waiting: Vec<(String, String)>,
}

impl Answer for Listed {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(prompts::FORM_TYPE, "Game invitations");
        out.field(&RESULT, &self.text);
        out.columns(&[ID, LINE]);
        for (id, line) in &self.waiting {
            out.row(&[cell(&ID, id), cell(&LINE, line)]);
        }
    }

    fn summary(&self) -> String {
        self.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::Bench;

    #[test]
    fn with_nothing_waiting_the_form_says_so_and_asks_nothing() {
        let bench = Bench::new();
        let form = bench.blank::<Invitations>(&bench.user("bob")).unwrap();
        let asked = form
            .fields
            .iter()
            .filter(|f| f.var.as_deref() != Some("FORM_TYPE"));
        assert_eq!(asked.count(), 0, "{:?}", form.fields);
        assert!(!form.instructions.is_empty());
    }
}
