//! `privacy`: a user sees and chooses which platforms may see them, and who looked.
//!
//! For users, from their own chat client: the `privacy` command, or the chat words
//! `privacy`, `history`, `share all`, `share none`, `share <platform>`,
//! `stop <platform>`. `share` and `stop` say in a line what changed (or that nothing
//! did); `privacy` says which platforms see the user; `history` lists the last
//! [`HISTORY`] disclosures about them in plain words (`history 50`: more, up to
//! [`HISTORY_MAX`]). Texts are in the user's language.

use super::fields::Spec;
use super::render::{Answer, ResultWriter};
use super::{Ctx, Flow, Got, NoInput, Node, Word};
use crate::directory::unix_secs;
use crate::failure::{quote, Failure};
use crate::rights::consent::Choice;
use crate::rights::User;

use crate::store::{AuditFilter, AuditRecord, Write};
use crate::strings::{self, Lang, Others};
use crate::xep::forms::{DataForm, Field, FieldOption, FieldType, FormType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:privacy:1";

/// The form's fields: whom to share with, or to stop sharing with.
const SHARE: Spec = Spec::new("share", "Share with", FieldType::ListSingle);
const STOP: Spec = Spec::new("stop", "Stop sharing with", FieldType::ListSingle);
/// Both fields' first choice, chosen as the form comes: no change. (A value chosen
/// makes Profanity list the options.)
const KEEP: &str = "keep";

/// The answer's fields and columns.
const CHANGED: Spec = Spec::new("changed", "What changed", FieldType::TextSingle);
const SHARING: Spec = Spec::new("sharing", "Platforms that see you", FieldType::TextMulti);
const NOT_SHARING: Spec = Spec::new("not-sharing", "Platforms that do not", FieldType::TextMulti);
const OTHERS: Spec = Spec::new("others", "Other platforms", FieldType::TextSingle);
const MUTED: Spec = Spec::new(
    "muted",
    "Game invitations muted from (* for everyone)",
    FieldType::TextMulti,
);
const LOOKED: Spec = Spec::new("history", "Who looked at you lately", FieldType::TextMulti);
/// The privacy page's link.
const LINK: Spec = Spec::new("link", "Your privacy page", FieldType::TextSingle);

/// Disclosures `history` shows...
pub const HISTORY: u32 = 10;
/// ...and at most, when asked for more.
pub const HISTORY_MAX: u32 = 100;

pub struct Privacy;

/// What the user asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyQuery {
    Show,
    /// Who looked: the last so many disclosures.
    History(u32),
    /// A link to the privacy page.
    Link,
    /// `platform` as the user named it (`None`: every platform).
    Share {
        platform: Option<String>,
        share: bool,
    },
}

impl TryFrom<&DataForm> for PrivacyQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<PrivacyQuery, Failure> {
        let value = |spec: &Spec| {
            spec.value(form)
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != KEEP)
        };
        Ok(match (value(&SHARE), value(&STOP)) {
            (Some(_), Some(_)) => {
                return Err(Failure::bad_request(format!(
                    "fill in \"{}\" or \"{}\", not both",
                    SHARE.var, STOP.var
                )))
            }
            (Some(share), None) => share_words(share, true)?,
            (None, Some(stop)) => share_words(stop, false)?,
            (None, None) => match form.value(LOOKED.var).map(str::trim) {
                // The history, as the privacy page asks for it.
                Some(n) if !n.is_empty() => PrivacyQuery::History(
                    n.parse::<u32>()
                        .map_or(HISTORY, |n| n.clamp(1, HISTORY_MAX)),
                ),
                _ => PrivacyQuery::Show,
            },
        })
    }
}

fn share_words(rest: &str, share: bool) -> Result<PrivacyQuery, Failure> {
    match rest.to_lowercase().as_str() {
        "" => Err(Failure::bad_request(if share {
            "say \"share all\", \"share none\" or \"share\" and a platform's name"
        } else {
            "say \"stop\" and a platform's name, or \"share none\""
        })),
        "all" => Ok(PrivacyQuery::Share {
            platform: None,
            share,
        }),
        "none" => Ok(PrivacyQuery::Share {
            platform: None,
            share: false,
        }),
        _ => Ok(PrivacyQuery::Share {
            platform: Some(rest.to_owned()),
            share,
        }),
    }
}

impl Node for Privacy {
    const NODE: &'static str = "privacy";
    const NAME: &'static str = "Your privacy: which platforms see you";
    type Caller = User;
    const WORDS: &'static [Word] = &[
        Word {
            word: "privacy",
            listed: true,
        },
        Word {
            word: "share",
            listed: true,
        },
        Word {
            word: "stop",
            listed: true,
        },
        Word {
            word: "history",
            listed: true,
        },
    ];
    type Query = PrivacyQuery;

    fn form(ctx: &Ctx<'_, User>) -> Option<DataForm> {
        let mut options = vec![
            FieldOption::labelled("Every platform", "all"),
            FieldOption::labelled("No platform", "none"),
        ];
        options.extend(
            known_platforms(ctx, None)
                .iter()
                .map(|(name, jid)| FieldOption::labelled(*name, *jid)),
        );
        let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
            .with_title("Your privacy")
            .with_instructions(
                "Choose who may see when you are available and whom you are chatting with. Leave both empty to see what you share now and who looked.",
            );
        let keep = || FieldOption::labelled("No change", KEEP);
        form.push_field(Field {
            options: std::iter::once(keep()).chain(options.clone()).collect(),
            values: vec![KEEP.to_owned()],
            ..SHARE.blank()
        });
        form.push_field(Field {
            options: std::iter::once(keep())
                .chain(
                    options
                        .into_iter()
                        .filter(|o| o.value != "all" && o.value != "none"),
                )
                .collect(),
            values: vec![KEEP.to_owned()],
            ..STOP.blank()
        });
        Some(form)
    }

    fn words(word: &str, rest: &str) -> Result<PrivacyQuery, Failure> {
        match word {
            "share" => share_words(rest, true),
            "stop" => share_words(rest, false),
            "privacy" if rest.eq_ignore_ascii_case("link") => Ok(PrivacyQuery::Link),
            "history" => Ok(PrivacyQuery::History(
                rest.parse::<u32>()
                    .map_or(HISTORY, |n| n.clamp(1, HISTORY_MAX)),
            )),
            _ => Ok(PrivacyQuery::Show),
        }
    }

    fn run(query: PrivacyQuery, ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
        let user = ctx.caller.bare();
        let lang = ctx.directory.lang(&user);
        if query == PrivacyQuery::Link {
            return link(ctx);
        }
        if let PrivacyQuery::History(n) = query {
            let (lines, more) = crate::fetched!(
                history(ctx, &user, n, lang),
                move |ctx| Self::run(query, ctx)
            );
            return Flow::done(PrivacyAnswer {
                lang,
                history: Some((lines, more)),
                ..PrivacyAnswer::default()
            });
        }
        let change = match &query {
            PrivacyQuery::Share { platform, share } => {
                let platform = match platform {
                    None => None,
                    Some(word) => Some(find_platform(ctx, word)?),
                };
                let choice = Choice {
                    user: user.clone(),
                    platform,
                    share: *share,
                };
                let already = already(ctx, &choice);
                if !already {
                    if !ctx.consent.has_room_for(&user) {
                        return Err(Failure::resource_constraint(
                            "the bridge keeps as many privacy choices as it can hold; your platforms follow the operator's rule until there is room",
                        ));
                    }
                    ctx.out
                        .write(Write::Consent(choice.clone(), unix_secs(ctx.now)));
                }
                Some((choice, already))
            }
            _ => None,
        };
        let sees = |jid: &str| match &change {
            Some((
                Choice {
                    platform: Some(p),
                    share,
                    ..
                },
                _,
            )) if p == jid => *share,
            Some((
                Choice {
                    platform: None,
                    share,
                    ..
                },
                _,
            )) => *share,
            _ => ctx.consent.allows(&user, jid),
        };
        let mut sharing = Vec::new();
        let mut not_sharing = Vec::new();
        let mut names = known_platforms(ctx, Some(&user));
        if let Some((
            Choice {
                platform: Some(p), ..
            },
            _,
        )) = &change
        {
            if !names.iter().any(|(_, jid)| jid == p) {
                names.push((p.as_str(), p.as_str()));
            }
        }
        for (name, jid) in names {
            if sees(jid) {
                sharing.push(name.to_owned());
            } else {
                not_sharing.push(name.to_owned());
            }
        }
        let others = match change
            .as_ref()
            .and_then(|(c, _)| c.platform.is_none().then_some(c.share))
        {
            Some(all) => Others::Chosen(all),
            None => match ctx.consent.choices(&user).and_then(|c| c.all) {
                Some(all) => Others::Chosen(all),
                None => Others::Rule(ctx.consent.by_default()),
            },
        };
        let muted = ctx.mutes.of(&user).into_iter().map(str::to_owned).collect();
        Flow::done(PrivacyAnswer {
            lang,
            muted,
            changed: change.map(|(c, already)| {
                let name = c.platform.as_deref().map(|p| ctx.registry.name(p));
                strings::shared(lang, name, c.share, already)
            }),
            sharing,
            not_sharing,
            others: Some(others),
            history: None,
        })
    }
}

/// `privacy-page`: a one-time link to the user's privacy page, the same as saying
/// `privacy link`.
pub struct PrivacyPage;

impl Node for PrivacyPage {
    const NODE: &'static str = "privacy-page";
    const NAME: &'static str = "Your privacy page: a link to it";
    type Caller = User;
    type Query = NoInput;

    fn run(_: NoInput, ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
        link(ctx)
    }
}

/// A link to the caller's privacy page, for one visit within
/// [`crate::rights::page_link::LINK_SECS`].
fn link(ctx: &mut Ctx<'_, User>) -> Result<Flow<User>, Failure> {
    let user = ctx.caller.bare();
    let lang = ctx.directory.lang(&user);
    let now_ms = ctx
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let url = ctx.page.and_then(|links| links.issue(&user, now_ms));
    let minutes = crate::rights::page_link::LINK_SECS / 60;
    Flow::done(PageAnswer {
        text: strings::page_link(lang, url.as_deref(), minutes),
        url,
    })
}

struct PageAnswer {
    text: String,
    url: Option<String>,
}

impl Answer for PageAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Your privacy page");
        if let Some(url) = &self.url {
            out.field(&LINK, url);
        }
    }

    fn summary(&self) -> String {
        self.text.clone()
    }
}

/// Whether `choice` changes nothing the user sees: the platform (or every one, by the
/// user's own choice) is already shared with, or not, as asked.
fn already(ctx: &Ctx<'_, User>, choice: &Choice) -> bool {
    match &choice.platform {
        Some(p) => ctx.consent.allows(&choice.user, p) == choice.share,
        None => ctx.consent.choices(&choice.user).is_some_and(|c| {
            c.all == Some(choice.share) && c.platforms.iter().all(|(_, s)| *s == choice.share)
        }),
    }
}

/// The platforms a user may choose about, as (name, JID), by name: the registry's, those
/// outside it that asked (trusted components, public platforms), and those `user` made a
/// choice about.
fn known_platforms<'a>(ctx: &'a Ctx<'_, User>, user: Option<&str>) -> Vec<(&'a str, &'a str)> {
    let mut platforms: Vec<(&str, &str)> = ctx
        .registry
        .iter()
        .map(|(jid, e)| (e.profile.name.as_str(), jid))
        .collect();
    let chosen = user
        .and_then(|u| ctx.consent.choices(u))
        .into_iter()
        .flat_map(|c| c.platforms.iter().map(|(p, _)| &**p));
    for jid in ctx.askers.jids().into_iter().chain(chosen) {
        if ctx.registry.get(jid).is_none() && !platforms.iter().any(|(_, j)| *j == jid) {
            platforms.push((jid, jid));
        }
    }
    platforms.sort_unstable();
    platforms
}

/// The platform a user means by `word`: a registered one by its name, JID or the JID's
/// local part; or the JID of any platform that may ask under the operator's policy
/// (a trusted component, a public platform), whether or not it asked yet.
fn find_platform(ctx: &Ctx<'_, User>, word: &str) -> Result<String, Failure> {
    if let Some((jid, _)) = ctx.registry.find(word) {
        return Ok(jid.to_owned());
    }
    if let Ok(jid) = word.trim().parse::<xmpp_parsers::jid::BareJid>() {
        if ctx.askers.may_ask(&jid) {
            return Ok(jid.to_string());
        }
    }
    let names: Vec<&str> = known_platforms(ctx, None)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let lang = ctx.directory.lang(&ctx.caller.bare());
    Err(Failure::item_not_found(strings::no_such_platform(
        lang,
        &quote(word),
        &names,
    )))
}

/// Lines of the disclosure record, and how many to ask for to see more.
type History = (Vec<String>, Option<u32>);

/// The last `n` disclosures about `user` in plain words, newest first, those not
/// written yet included; and how many to ask for to see more, if there are more.
fn history(ctx: &Ctx<'_, User>, user: &str, n: u32, lang: Lang) -> Result<Got<History>, Failure> {
    let mut records: Vec<AuditRecord> = ctx
        .audit
        .pending()
        .rev()
        .filter(|r| r.user == user)
        .take(n as usize + 1)
        .cloned()
        .collect();
    let stored = crate::ready!(ctx.stored_audit(AuditFilter {
        user: Some(user.to_owned()),
        limit: n + 1,
        ..AuditFilter::default()
    }));
    records.extend(stored);
    let more = (records.len() > n as usize && n < HISTORY_MAX)
        .then(|| (n * 5).clamp(HISTORY, HISTORY_MAX));
    records.truncate(n as usize);
    let now = unix_secs(ctx.now);
    let lines = records
        .iter()
        .map(|r| {
            strings::history_line(
                ctx.registry.name(&r.platform),
                &strings::learnt(lang, &r.command),
                &strings::ago(lang, now.saturating_sub(r.at)),
            )
        })
        .collect();
    Ok(Got::Ready((lines, more)))
}

#[derive(Default)]
struct PrivacyAnswer {
    lang: Lang,
    /// What `share`/`stop` did, in a sentence.
    changed: Option<String>,
    sharing: Vec<String>,
    not_sharing: Vec<String>,
    /// `None`: only the history was asked for.
    others: Option<Others>,
    /// Hosts whose invitations the user muted (`*`: everyone).
    muted: Vec<String>,
    /// Who looked (lines), and how many to ask for to see more: only for `history`.
    history: Option<(Vec<String>, Option<u32>)>,
}

impl Answer for PrivacyAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Your privacy");
        if let Some(changed) = &self.changed {
            out.field(&CHANGED, changed);
        }
        if let Some(others) = self.others {
            out.fields(&SHARING, &self.sharing);
            out.fields(&NOT_SHARING, &self.not_sharing);
            out.field(&OTHERS, strings::others_text(self.lang, others));
            out.fields(&MUTED, &self.muted);
        }
        if let Some((lines, _)) = &self.history {
            out.fields(&LOOKED, lines);
        }
    }

    fn summary(&self) -> String {
        if let Some((lines, more)) = &self.history {
            return strings::history(self.lang, lines, *more);
        }
        if let Some(changed) = &self.changed {
            return changed.clone();
        }
        strings::privacy(
            self.lang,
            &self.sharing,
            &self.not_sharing,
            self.others.unwrap_or(Others::Rule(false)),
            &self.muted,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::Bench;

    #[test]
    fn a_user_stops_sharing_with_everyone_and_both_fields_at_once_are_refused() {
        let bench = Bench::new();
        let bob = bench.user("bob");
        let ran = bench.run::<Privacy>(&bob, &[("share", &["none"])]);
        assert!(matches!(ran.writes(), [Write::Consent(c, _)] if !c.share && c.platform.is_none()));
        let both = bench.run::<Privacy>(
            &bob,
            &[("share", &["all"]), ("stop", &["game@example.test"])],
        );
        assert_eq!(
            both.failure().text,
            "fill in \"share\" or \"stop\", not both"
        );
    }
}
