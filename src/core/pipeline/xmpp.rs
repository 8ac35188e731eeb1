//! The XMPP front door: ad-hoc commands (XEP-0050, with their sessions and actions),
//! chat words, and prompt forms sent back in a message.

use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::jid::Jid;

use super::{may_run, refuse, view, Channel, Origin};
use crate::commands::render::Answer;
use crate::commands::{self, disco, render, NodeDef, Resume};
use crate::core::session::Session;
use crate::core::stanza::{self, Header};
use crate::core::{Core, Outbox};
use crate::failure::{quote, Failure};
use crate::rights::platforms::Shape;
use crate::rights::{self, token, Actor};
use crate::wire::TooLarge;
use crate::xep::commands::{Action, Actions, Command, CommandError, SpecificCondition, Status};
use crate::xep::forms::{DataForm, FormType};

/// What the session rules decided for a request.
enum Step {
    /// Answer with this, without running the handler.
    Reply(Command),
    /// Run the handler on this form.
    Run {
        form: DataForm,
        sessionid: Option<String>,
        restore: Option<Session>,
    },
}

/// The shape of answer a request asks for: the form's `format` field, or else its
/// platform's registry entry, or else the data form.
fn answer_shape(form: &DataForm, actor: &Actor) -> Result<Shape, Failure> {
    if let Some(word) = form.value(render::FORMAT_FIELD) {
        return Shape::parse(word).ok_or_else(|| {
            Failure::bad_request(format!(
                "the field \"{}\" is \"form\" or \"compact\", not {:?}",
                render::FORMAT_FIELD,
                quote(word)
            ))
        });
    }
    Ok(actor.platform().map_or(Shape::Form, |p| p.profile.answers))
}

impl Core {
    /// An IQ set carrying a `<command/>` for `node`.
    pub(in crate::core) fn on_command(
        &mut self,
        header: &Header,
        node: &str,
        payload: &Element,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        // Who may run the node is decided before the form is read: a stranger's form,
        // however large or odd, is never parsed.
        let token = token_field(payload);
        let mut actor = None;
        // A prompt's answer node (`prompt/<id>/yes`) stands for its form.
        let (def, implied) = match disco::admit(node, |def| {
            let decided = self.actor(&header.from, def.access, token);
            let admitted = may_run(def, &decided);
            actor = Some(decided);
            admitted
        }) {
            Ok(admitted) => admitted,
            Err(failure) => return refuse(header, &failure, out),
        };
        let Some(actor) = actor else {
            return refuse(header, &Failure::internal(), out);
        };
        if let Err(failure) = super::through("xmpp", &actor) {
            return refuse(header, &failure, out);
        }
        self.note_asker(&actor, now);
        let step = Command::try_from(payload)
            .map_err(command_parse_failure)
            .map(|mut request| {
                if request.form.is_none() && request.sessionid.is_none() {
                    request.form = implied;
                }
                request
            })
            .and_then(|request| self.step(def, &actor, request, now));
        let (form, sessionid, restore) = match step {
            Ok(Step::Reply(command)) => {
                self.state.health.stats.commands_served += 1;
                out.send(stanza::iq_result(header, Some(command.into())));
                return;
            }
            Ok(Step::Run {
                form,
                sessionid,
                restore,
            }) => (form, sessionid, restore),
            Err(failure) => return refuse(header, &failure, out),
        };
        let shape = match answer_shape(&form, &actor) {
            Ok(shape) => shape,
            Err(failure) => return refuse(header, &failure, out),
        };
        // The handler's first run is a continuation like any other.
        let then = Resume::new(move |actor, view, out| (def.start)(&form, actor, view, out));
        let channel = Channel::Command {
            sessionid,
            restore,
            shape,
        };
        let origin = Origin::Xmpp {
            header: header.clone(),
            channel,
        };
        self.begin(origin, (def, actor), then, now, out);
    }

    /// A chat message from a user to the component: its first word says which node it
    /// runs.
    pub(in crate::core) fn on_words(
        &mut self,
        header: &Header,
        body: &str,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let reply = |text: &str, out: &mut Outbox| {
            out.send(stanza::chat_reply(header, text));
        };
        let lang = self.state.directory.lang(header.from.to_bare().as_str());
        if body.len() > commands::MAX_WORDS_BYTES {
            return reply(&crate::strings::not_understood(lang, None), out);
        }
        let (word, rest) = commands::split_words(body);
        if word.is_empty() {
            return;
        }
        if word == "help" {
            return reply(&self.help(&header.from, lang), out);
        }
        let Some(def) = commands::find_word(&word) else {
            let word = crate::failure::cut(&word, 40).unwrap_or_else(|| word.clone());
            return reply(&crate::strings::not_understood(lang, Some(&word)), out);
        };
        let actor = self.actor(&header.from, def.access, None);
        if !rights::admits(def.access, &actor) {
            return reply(&rights::refusal(def.access, def.node), out);
        }
        let rest = rest.to_owned();
        let then = Resume::new(move |actor, view, out| (def.say)(&word, &rest, actor, view, out));
        let origin = Origin::Xmpp {
            header: header.clone(),
            channel: Channel::Chat,
        };
        self.begin(origin, (def, actor), then, now, out);
    }

    /// A message from a user submitting a prompt's form (clients that show the form in
    /// the message send it back so): the prompt is found by the form's hidden field, or
    /// else by the message's thread.
    pub(in crate::core) fn on_prompt_form(
        &mut self,
        header: &Header,
        mut form: DataForm,
        thread: Option<&str>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        use crate::prompts::PROMPT_FIELD;
        if form.value(PROMPT_FIELD).is_none() {
            if let Some(id) = thread.and_then(|t| t.strip_prefix("prompt-")) {
                form.push_field(crate::xep::forms::Field::value(PROMPT_FIELD, id));
            }
        }
        let Some(def) = commands::find(<commands::answer::AnswerPrompt as commands::Node>::NODE)
        else {
            return;
        };
        let actor = self.actor(&header.from, def.access, None);
        if !rights::admits(def.access, &actor) {
            return;
        }
        let then = Resume::new(move |actor, view, out| (def.start)(&form, actor, view, out));
        let origin = Origin::Xmpp {
            header: header.clone(),
            channel: Channel::Chat,
        };
        self.begin(origin, (def, actor), then, now, out);
    }

    /// The words `from` may use, one per line.
    fn help(&self, from: &Jid, lang: crate::strings::Lang) -> String {
        let mut text = String::from(crate::strings::help_head(lang));
        for def in commands::NODES {
            if !self.may_run(from, def, None) {
                continue;
            }
            for word in def.words.iter().filter(|w| w.listed) {
                text.push('\n');
                text.push_str(&crate::strings::usage(lang, word.word));
            }
        }
        text.push('\n');
        text.push_str(crate::strings::help_tail(lang));
        text
    }

    /// XEP-0050 §3: sessions and actions.
    fn step(
        &mut self,
        def: &'static NodeDef,
        actor: &Actor,
        request: Command,
        now: SystemTime,
    ) -> Result<Step, Failure> {
        let Some(id) = request.sessionid else {
            match request.action {
                None | Some(Action::Execute) => {}
                Some(other) => {
                    return Err(Failure::bad_request(format!(
                        "action {:?} needs the sessionid of a command in progress",
                        other.as_str()
                    ))
                    .with_specific(SpecificCondition::BadSessionid))
                }
            }
            let blank = (def.form)(actor, &view(&self.state, &self.config, (None, &[]), now));
            return Ok(match (request.form, blank) {
                // One step: a submitted form must hold the answer's input.
                (Some(form), _) if form.type_ == FormType::Submit => Step::Run {
                    form,
                    sessionid: None,
                    restore: None,
                },
                // A form with nothing to fill (only its note, say): run at once.
                (_, Some(blank)) if !blank.fields.iter().any(|f| f.kind().is_input()) => {
                    Step::Run {
                        form: DataForm::new(FormType::Submit, None),
                        sessionid: None,
                        restore: None,
                    }
                }
                (_, Some(blank)) => {
                    let id = self.sessions.new_id();
                    let actions = Actions {
                        execute: Some(Action::Complete),
                        allowed: vec![Action::Complete],
                    };
                    self.sessions.insert(
                        id.clone(),
                        def.node,
                        actor.jid().clone(),
                        actions.clone(),
                        now,
                    );
                    Step::Reply(
                        Command::response(def.node, id, Status::Executing)
                            .with_form(blank)
                            .with_actions(actions),
                    )
                }
                (_, None) => Step::Run {
                    form: DataForm::new(FormType::Submit, None),
                    sessionid: None,
                    restore: None,
                },
            });
        };
        let session = self.sessions.take(&id, def.node, actor.jid(), now)?;
        let action = match request.action {
            Some(Action::Cancel) => {
                return Ok(Step::Reply(Command::response(
                    def.node,
                    id,
                    Status::Canceled,
                )))
            }
            // "execute" (or no action) means the default the last step offered.
            None | Some(Action::Execute) => session.actions.execute.unwrap_or(Action::Complete),
            Some(action) => action,
        };
        if !session.actions.allowed.contains(&action) {
            self.sessions.restore(id, session, now);
            return Err(Failure::bad_request(format!(
                "action {:?} is not offered at this step",
                action.as_str()
            ))
            .with_specific(SpecificCondition::BadAction));
        }
        Ok(Step::Run {
            form: request
                .form
                .unwrap_or_else(|| DataForm::new(FormType::Submit, None)),
            sessionid: Some(id),
            restore: Some(session),
        })
    }
}

/// The hidden `token` field of a command's form, read before anything else of the
/// request: a bounded look at the form's direct fields, one text node of at most
/// [`token::MAX_TOKEN_BYTES`] bytes.
fn token_field(payload: &Element) -> Option<&str> {
    let form = payload
        .children()
        .take(8)
        .find(|c| c.is("x", crate::xep::forms::NS))?;
    let field = form
        .children()
        .take(64)
        .find(|f| f.name() == "field" && f.attr("var") == Some("token"))?;
    let value = field.children().find(|v| v.name() == "value")?;
    let mut texts = value.texts();
    let text = texts.next()?;
    (texts.next().is_none() && text.len() <= token::MAX_TOKEN_BYTES).then_some(text)
}

fn command_parse_failure(error: CommandError) -> Failure {
    match error {
        CommandError::MalformedAction(action) => Failure::bad_request(format!(
            "{:?} is not an ad-hoc command action",
            quote(&action)
        ))
        .with_specific(SpecificCondition::MalformedAction),
        CommandError::BadPayload(reason) => {
            Failure::bad_request(format!("the submitted data form is invalid: {reason}"))
                .with_specific(SpecificCondition::BadPayload)
        }
        other => Failure::bad_request(format!("invalid ad-hoc command request: {other}")),
    }
}

impl Core {
    /// Sends `answer` where an XMPP request is answered: a completed command, in the
    /// shape asked for, or a chat message.
    pub(super) fn answer_stanza(
        &mut self,
        header: &Header,
        channel: Channel,
        node: &str,
        answer: &dyn Answer,
        lang: crate::strings::Lang,
        out: &mut Outbox,
    ) {
        let Channel::Command {
            sessionid, shape, ..
        } = channel
        else {
            return out.send(stanza::chat_reply(header, &render::text(answer)));
        };
        // Responses always carry a session id, single-step ones included (§3.4).
        let id = sessionid.unwrap_or_else(|| self.sessions.new_id());
        let max = self.config.max_stanza_bytes;
        let reply = render::Reply {
            id: header.id.as_deref().unwrap_or_default(),
            from: header.to.as_str(),
            to: header.from.as_str(),
            lang,
        };
        let written = out.wire.stanza(|xml| {
            render::completed(xml, reply, node, &id, answer, shape, max);
        });
        if let Err(TooLarge(size)) = written {
            out.wire.count_oversized();
            let id = Some(reply.id);
            out.wire
                .too_large_answer(id, Some(reply.from), Some(reply.to), size);
        }
    }
}

/// Refuses an XMPP request: an error reply to a command, a chat message to chat words.
pub(super) fn refuse_on(header: &Header, channel: &Channel, failure: &Failure, out: &mut Outbox) {
    match channel {
        Channel::Command { .. } => out.send(stanza::error_reply(header, failure)),
        Channel::Chat => out.send(stanza::chat_reply(header, &failure.text)),
    }
}
