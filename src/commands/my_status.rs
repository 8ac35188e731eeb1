//! `my-status`: a user sets, clears or reads their self-defined status, a line kept
//! after they log out that platforms they share with read in `status` (with who set it
//! and when). Also the chat words `status <text>`, `status clear` and `status`.

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::{Ctx, Flow, Node, Word};
use crate::directory::self_status::{self, MAX_CHARS};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::rights::User;

use crate::store::{SelfStatusRecord, Write};
use crate::strings::{self, Lang, StatusNow};
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:my-status:1";

/// The status: the form's field, and the answer's.
const STATUS: Spec = Spec::new("status", "Status", FieldType::TextSingle);
const SET_BY: Spec = Spec::new("set-by", "Set by", FieldType::JidSingle);
/// When, as a person reads it ("5 min ago", in their language).
const SET_AT: Spec = Spec::new("set-at", "Set", FieldType::TextSingle);

pub struct MyStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MyStatusQuery {
    Show,
    Set(String),
    Clear,
}

impl TryFrom<&DataForm> for MyStatusQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<MyStatusQuery, Failure> {
        match form.field(STATUS.var) {
            None => Ok(MyStatusQuery::Show),
            Some(field) => {
                let text = field.values.join(" ");
                if text.trim().is_empty() {
                    Ok(MyStatusQuery::Clear)
                } else {
                    Ok(MyStatusQuery::Set(checked(&text, STATUS.var)?))
                }
            }
        }
    }
}

/// `text` trimmed, if it is a status: at most [`MAX_CHARS`] characters on one line;
/// else a refusal naming `field`.
pub fn checked(text: &str, field: &str) -> Result<String, Failure> {
    super::fields::check_text(text, field, MAX_CHARS, false)
}

impl Node for MyStatus {
    const NODE: &'static str = "my-status";
    const NAME: &'static str = "Your status for games";
    type Caller = User;
    const WORDS: &'static [Word] = &[Word {
        word: "status",
        listed: true,
    }];
    type Query = MyStatusQuery;

    fn form(ctx: &Ctx<'_, User>) -> Option<DataForm> {
        let current = ctx
            .self_status
            .get(&ctx.caller.bare())
            .map(|s| s.text.clone());
        let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
            .with_title("Your status for games")
            .with_instructions(
                "A line the platforms you share with read, kept when you log out. Leave it empty to clear it. Where your client takes words one by one (Profanity's /field1), put the line in quotes: \"Up for chess after 8\". Or say it in the chat: status Up for chess after 8.",
            );
        form.push_field(Field {
            values: current.into_iter().collect(),
            ..STATUS.blank()
        });
        Some(form)
    }

    fn words(_: &str, rest: &str) -> Result<MyStatusQuery, Failure> {
        match rest.to_lowercase().as_str() {
            "" => Ok(MyStatusQuery::Show),
            "clear" => Ok(MyStatusQuery::Clear),
            _ => Ok(MyStatusQuery::Set(checked(rest, STATUS.var)?)),
        }
    }

    fn run(query: MyStatusQuery, ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
        let user = ctx.caller.bare();
        let (lang, now) = (ctx.directory.lang(&user), unix_secs(ctx.now));
        let status = match query {
            MyStatusQuery::Show => {
                return Flow::done(MyStatusAnswer {
                    status: ctx.self_status.get(&user).cloned(),
                    changed: false,
                    lang,
                    now,
                })
            }
            MyStatusQuery::Clear => None,
            MyStatusQuery::Set(text) => {
                if !ctx.self_status.has_room_for(&user) {
                    return Err(Failure::resource_constraint(format!(
                        "the bridge holds as many statuses as it can ({}); try again later",
                        self_status::MAX_USERS
                    )));
                }
                Some(SelfStatusRecord {
                    user: user.clone(),
                    text,
                    set_by: user.clone(),
                    set_at: unix_secs(ctx.now),
                })
            }
        };
        ctx.out.write(Write::SelfStatus {
            user,
            status: status.clone(),
        });
        Flow::done(MyStatusAnswer {
            status,
            changed: true,
            lang,
            now,
        })
    }
}

struct MyStatusAnswer {
    status: Option<SelfStatusRecord>,
    changed: bool,
    lang: Lang,
    /// Seconds since the Unix epoch.
    now: u32,
}

impl Answer for MyStatusAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Your status for games");
        let s = self.status.as_ref();
        out.field(&STATUS, s.map_or("", |s| s.text.as_str()));
        out.field(&SET_BY, s.map_or("", |s| s.set_by.as_str()));
        out.field(
            &SET_AT,
            &s.map_or_else(String::new, |s| {
                strings::ago(self.lang, self.now.saturating_sub(s.set_at))
            }),
        );
    }

    fn summary(&self) -> String {
        let when = self.status.as_ref().map_or_else(String::new, |s| {
            strings::ago(self.lang, self.now.saturating_sub(s.set_at))
        });
        strings::my_status(
            self.lang,
            match (&self.status, self.changed) {
                (Some(s), true) => StatusNow::Set(&s.text),
                (None, true) => StatusNow::Cleared,
                (Some(s), false) => StatusNow::Is(&s.text, &s.set_by, &when),
                (None, false) => StatusNow::None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::Bench;

    #[test]
    fn a_user_sets_and_clears_their_status_in_words() {
        let mut bench = Bench::new();
        let bob = bench.user("bob");
        let set = bench.say::<MyStatus>(&bob, "status", "Back at 8");
        assert!(
            matches!(set.writes(), [Write::SelfStatus { status: Some(s), .. }] if s.text == "Back at 8")
        );
        bench.commit(&set);
        let form = bench.blank::<MyStatus>(&bob).unwrap();
        assert_eq!(form.value("status"), Some("Back at 8"));
        let cleared = bench.say::<MyStatus>(&bob, "status", "clear");
        assert!(matches!(
            cleared.writes(),
            [Write::SelfStatus { status: None, .. }]
        ));
    }
}
