//! The stanzas invites send: the invitation (a prompt message), the news to the host,
//! the notice to a waiting invitee that an invite was cancelled, and the platform's
//! message for each answer and outcome change (a data form, FORM_TYPE [`FORM_TYPE`]).
//! The words are in [`crate::strings`], in the reader's language.

use minidom::rxml::xml_ncname;
use minidom::Element;

use super::plan::Notice;
use super::{Answer, Book, Outcome};
use crate::directory::Directory;
use crate::prompts::{self, Question};
use crate::rights::platforms::Registry;
use crate::store::{InviteRecord, PromptRecord};
use crate::strings::{self, HostNews, Lang};
use crate::wire::{Stanza, STREAM_NS};
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

/// FORM_TYPE of the platform's message about an invite.
pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:invite:1";

/// What rendering notices reads.
pub struct Tell<'a> {
    /// The component's JID.
    pub component: &'a str,
    pub book: &'a Book,
    pub directory: &'a Directory,
    pub registry: &'a Registry,
    /// Seconds since the Unix epoch.
    pub now: u32,
}

impl Tell<'_> {
    /// The stanzas that carry `notices`.
    pub fn messages(&self, notices: &[Notice]) -> Vec<Stanza> {
        notices.iter().filter_map(|n| self.message(n)).collect()
    }

    fn message(&self, notice: &Notice) -> Option<Stanza> {
        let tree = match notice {
            Notice::Invitation { invite, prompt } => return Some(self.invitation(invite, prompt)),
            Notice::Answer {
                invite,
                invitee,
                answer,
                how,
                outcome,
            } => {
                let invite = &self.book.get(invite)?.record;
                Some(to_platform(
                    self.component,
                    invite,
                    Some((invitee, *answer, how.map(|h| h.as_str()))),
                    *outcome,
                    None,
                ))
            }
            Notice::State {
                invite,
                state,
                outcome,
            } => {
                let invite = &self.book.get(invite)?.record;
                Some(to_platform(
                    self.component,
                    invite,
                    None,
                    *outcome,
                    Some(state.as_str()),
                ))
            }
            Notice::Host {
                invite,
                invitee,
                answer,
                outcome,
            } => {
                let invite = &self.book.get(invite)?.record;
                let news = match (answer, outcome) {
                    (Answer::Accepted, _) => HostNews::Accepted,
                    // This decline was the last answer waited for: nobody joined.
                    (Answer::Declined, Outcome::Solo) => HostNews::DeclinedAlone,
                    (Answer::Declined, _) => HostNews::Declined,
                    (Answer::Full, _) => HostNews::Full,
                    (_, Outcome::Solo) => HostNews::Alone,
                    _ => return None,
                };
                let lang = self.directory.lang(&invite.host);
                let text = strings::to_host(lang, news, invitee, &invite.game);
                Some(chat(self.component, &invite.host, lang, &text, &invite.id))
            }
            Notice::Cancelled { invite } => {
                let invite = &self.book.get(invite)?.record;
                let lang = self.directory.lang(&invite.host);
                let platform = self.registry.name(&invite.platform);
                let text = strings::to_host(lang, HostNews::Cancelled, platform, &invite.game);
                Some(chat(self.component, &invite.host, lang, &text, &invite.id))
            }
            Notice::Withdrawn { invite, prompt } => {
                let invite = &self.book.get(invite)?.record;
                let lang = self.directory.lang(&prompt.user);
                let text = strings::closed(
                    lang,
                    strings::Closed::Cancelled,
                    &invite.host,
                    &invite.game,
                    &prompt.id,
                );
                Some(chat(self.component, &prompt.user, lang, &text, &prompt.id))
            }
        };
        tree.map(Stanza::Tree)
    }

    /// The invitation to one invitee.
    pub fn invitation(&self, invite: &InviteRecord, prompt: &PromptRecord) -> Stanza {
        invitation(
            self.component,
            invite,
            prompt,
            self.registry.name(&invite.platform),
            self.now,
        )
    }
}

/// The invitation to one invitee: the same bytes (ids, `origin-id`) every time it is
/// sent, given the same `now`.
pub fn invitation(
    component: &str,
    invite: &InviteRecord,
    prompt: &PromptRecord,
    platform: &str,
    now: u32,
) -> Stanza {
    let lang = prompt.lang.as_deref().map_or(Lang::En, Lang::from_tag);
    let minutes = invite.expires_at.saturating_sub(now).div_ceil(60).max(1);
    let body = strings::invitation(
        lang,
        &strings::Invitation {
            host: &invite.host,
            game: &invite.game,
            platform,
            id: &prompt.id,
            minutes,
            until: &strings::clock(invite.expires_at),
            join_uri: invite.join_uri.as_deref(),
        },
    );
    let (accept, decline) = strings::accept_decline(lang);
    let title = strings::invitation_title(lang, &invite.host, &invite.game);
    prompts::message(&Question {
        id: &prompt.id,
        to: &prompt.user,
        from: component,
        title: &title,
        body: &body,
        label: strings::your_answer(lang),
        yes: accept,
        no: decline,
        later: strings::not_now(lang),
        words: ("accept", "decline"),
        lang: (lang != Lang::En).then_some(lang.tag()),
        ephemeral: true,
    })
}

/// A chat message to a user about an invitation, in the thread of its prompt.
fn chat(component: &str, to: &str, lang: Lang, text: &str, thread: &str) -> Element {
    let ns = STREAM_NS;
    let mut message = Element::builder("message", ns)
        .attr(xml_ncname!("type").into(), "chat")
        .attr(xml_ncname!("from").into(), component)
        .attr(xml_ncname!("to").into(), to);
    if lang != Lang::En {
        message = message.attr_ns(
            minidom::rxml::Namespace::XML,
            xml_ncname!("lang").into(),
            lang.tag(),
        );
    }
    message
        .append(Element::builder("body", ns).append(text).build())
        .append(
            Element::builder("thread", ns)
                .append(prompts::thread(thread))
                .build(),
        )
        .build()
}

/// The platform's message: an invitee's answer (if any) and the outcome after it.
pub fn to_platform(
    component: &str,
    invite: &InviteRecord,
    answer: Option<(&str, Answer, Option<&str>)>,
    outcome: Outcome,
    state: Option<&str>,
) -> Element {
    let ns = STREAM_NS;
    let text = match answer {
        Some((invitee, answer, _)) => format!(
            "{invitee} {} invite {} ({}, session {}): {}",
            answer.as_str(),
            invite.id,
            invite.game,
            invite.session,
            outcome.as_str()
        ),
        None => format!(
            "invite {} ({}, session {}) is {}",
            invite.id,
            invite.game,
            invite.session,
            outcome.as_str()
        ),
    };
    let mut form = DataForm::new(FormType::Result, Some(FORM_TYPE)).with_title("Invite news");
    let mut field = |var: &str, label: &str, type_: FieldType, value: &str| {
        form.push_field(Field {
            var: Some(var.to_owned()),
            label: Some(label.to_owned()),
            type_: Some(type_),
            values: vec![value.to_owned()],
            ..Field::default()
        })
    };
    field("invite", "Invite", FieldType::TextSingle, &invite.id);
    field("session", "Session", FieldType::TextSingle, &invite.session);
    field("host", "Host", FieldType::JidSingle, &invite.host);
    if let Some((invitee, answer, how)) = answer {
        field("invitee", "Invitee", FieldType::JidSingle, invitee);
        field("answer", "Answer", FieldType::TextSingle, answer.as_str());
        if let Some(how) = how {
            field("how", "Answered through", FieldType::TextSingle, how);
        }
    }
    field(
        "outcome",
        "Outcome",
        FieldType::TextSingle,
        outcome.as_str(),
    );
    if let Some(state) = state {
        field("state", "State", FieldType::TextSingle, state);
    }
    Element::builder("message", ns)
        .attr(xml_ncname!("type").into(), "normal")
        .attr(xml_ncname!("from").into(), component)
        .attr(xml_ncname!("to").into(), invite.notify.as_str())
        .append(Element::builder("body", ns).append(text).build())
        .append(
            Element::builder("thread", ns)
                .append(format!("invite-{}", invite.id))
                .build(),
        )
        .append(Element::from(form))
        .build()
}
