//! `mute`: a user stops game invitations, from one host or from anyone; `unmute` takes
//! it back. Chat words `mute [host]` and `unmute [host]`; the command's form has `host`
//! (left empty: everyone) and `mute` (true or false). A platform inviting a muted user
//! is told `muted`. `privacy` lists the mutes.

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::served::parse_user;
use super::{Ctx, Flow, Node, Word};
use crate::directory::unix_secs;
use crate::failure::Failure;
use crate::rights::consent::ALL;
use crate::rights::User;

use crate::store::Write;
use crate::strings;
use crate::xep::forms::{DataForm, Field, FieldType, FormType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:mute:1";

/// The form's fields: from whom, and whether to mute or unmute.
const HOST: Spec = Spec::jid("host", "From");
const MUTE: Spec = Spec::new("mute", "Mute (untick to unmute)", FieldType::Boolean);

/// The answer's fields and columns.
const RESULT: Spec = Spec::new("result", "Result", FieldType::TextSingle);

pub struct Mute;

pub struct MuteQuery {
    /// `None`: everyone.
    host: Option<String>,
    mute: bool,
}

/// The host named, as given (`None`: everyone); checked once the user is known.
fn host(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|h| !h.is_empty() && *h != ALL)
        .map(|h| crate::failure::cut(h, 100).unwrap_or_else(|| h.to_owned()))
}

impl TryFrom<&DataForm> for MuteQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<MuteQuery, Failure> {
        let mute = match MUTE.value(form).map(str::trim) {
            None | Some("1") | Some("true") => true,
            Some("0") | Some("false") => false,
            Some(_) => {
                return Err(Failure::bad_request(format!(
                    "the field \"{}\" is true or false",
                    MUTE.var
                )))
            }
        };
        Ok(MuteQuery {
            host: host(HOST.value(form)),
            mute,
        })
    }
}

impl Node for Mute {
    const NODE: &'static str = "mute";
    const NAME: &'static str = "Mute game invitations";
    type Caller = User;
    const WORDS: &'static [Word] = &[
        Word {
            word: "mute",
            listed: true,
        },
        Word {
            word: "unmute",
            listed: false,
        },
    ];
    type Query = MuteQuery;

    fn form(_: &Ctx<'_, User>) -> Option<DataForm> {
        let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
            .with_title("Mute game invitations")
            .with_instructions("From whom (left empty: from anyone).");
        form.push_field(HOST.blank());
        form.push_field(Field {
            values: vec!["1".to_owned()],
            ..MUTE.blank()
        });
        Some(form)
    }

    fn words(word: &str, rest: &str) -> Result<MuteQuery, Failure> {
        Ok(MuteQuery {
            host: host(rest.split_whitespace().next()),
            mute: word == "mute",
        })
    }

    fn run(query: MuteQuery, ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
        let user = ctx.caller.bare();
        // "mute alice" means alice of the user's own server.
        let host = match query.host {
            None => None,
            Some(h) if h.contains('@') => Some(parse_user(&h)?.to_string()),
            Some(h) => {
                let domain = user.rsplit_once('@').map_or("", |(_, d)| d);
                Some(parse_user(&format!("{h}@{domain}"))?.to_string())
            }
        };
        if query.mute && !ctx.mutes.has_room() {
            return Err(Failure::resource_constraint(
                "the bridge holds too many mutes to take one more; try again later",
            ));
        }
        let lang = ctx.directory.lang(&user);
        ctx.out.write(Write::Mute {
            user,
            host: host.clone().unwrap_or_else(|| ALL.to_owned()),
            mute: query.mute,
            at: unix_secs(ctx.now),
        });
        Flow::done(Muted {
            text: strings::muted(lang, query.mute, host.as_deref()),
        })
    }
}

struct Muted {
    text: String,
}

impl Answer for Muted {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Mute");
        out.field(&RESULT, &self.text);
    }

    fn summary(&self) -> String {
        self.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};

    #[test]
    fn a_user_mutes_a_host_and_a_bad_value_is_refused() {
        let bench = Bench::new();
        let bob = bench.user("bob");
        let ran = bench.run::<Mute>(&bob, &[("host", &[&jid("carol")]), ("mute", &["true"])]);
        assert!(
            matches!(ran.writes(), [Write::Mute { host, mute: true, .. }] if *host == jid("carol"))
        );
        let odd = bench.run::<Mute>(&bob, &[("mute", &["maybe"])]);
        assert_eq!(odd.failure().text, "the field \"mute\" is true or false");
    }
}
