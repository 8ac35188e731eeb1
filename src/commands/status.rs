//! `status`: availability, status texts and last seen of one or many users, for game
//! platforms.
//!
//! Input: `jids` (one or more users, at most [`MAX_USERS`]). Output: a result form,
//! FORM_TYPE [`FORM_TYPE`], with a `<reported/>` table: `jid`, `availability` (`chat`,
//! `available`, `away`, `xa`, `dnd`, `offline` or `unknown`), `status` (every status text,
//! those with a language as `[lang] text`), `last-seen` (XEP-0082: when an offline or
//! unknown user was last seen online, if the component saw it), `self-status` (the
//! user's self-defined status, kept after logout) with `self-status-by` (who set it: the
//! user or a platform) and `self-status-at`, and `rights` (what the asking platform may
//! do for the user, one per value). Users of hosts this bridge does not serve are
//! `unknown`, with a warning note saying so. A user who does not let the platform see
//! them is reported exactly as a user the bridge never heard of.

use crate::rights::Platform;

use std::collections::HashMap;

use xmpp_parsers::jid::BareJid;

use super::doc::{AnswerDoc, Doc};
use super::fields::{blank_form, Spec};
use super::render::{
    cell, cells, compact_item, Answer, CompactWriter, ResultWriter, MAX_SUMMARY_CHARS,
};
use super::served::served_user;
use super::values::{availability_label, rights_other_than, rights_value};
use super::{Ctx, Flow, Needs, Node, Waited};
use crate::directory::grants::Grant;
use crate::directory::{unix_secs, Seen};
use crate::failure::Failure;
use crate::rights::policy::Subject;
use crate::rights::Rights;
use crate::store::SelfStatusRecord;
use crate::xep::commands::NoteType;
use crate::xep::datetime;
use crate::xep::forms::{DataForm, FieldType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:status:1";

/// Users one request may ask about.
pub const MAX_USERS: usize = 100;

pub struct Status;

/// The users asked about.
pub const USERS: Spec = Spec::new("jids", "Users", FieldType::JidMulti)
    .required()
    .purpose("at least one user JID");

/// The table's columns, one row per user.
const USER: Spec = Spec::jid("jid", "User");
const AVAILABILITY: Spec = Spec::text("availability", "Availability");
const STATUS: Spec = Spec::new("status", "Status", FieldType::TextMulti);
const LAST_SEEN: Spec = Spec::text("last-seen", "Last seen");
const SELF_STATUS: Spec = Spec::text("self-status", "Self-defined status");
const SELF_STATUS_BY: Spec = Spec::jid("self-status-by", "Self-defined status set by");
const SELF_STATUS_AT: Spec = Spec::text("self-status-at", "Self-defined status set at");
const RIGHTS: Spec = Spec::text("rights", "What this platform may do for the user");

/// The users asked about, as given.
pub struct StatusQuery {
    pub jids: Vec<String>,
}

impl TryFrom<&DataForm> for StatusQuery {
    type Error = Failure;
    fn try_from(form: &DataForm) -> Result<StatusQuery, Failure> {
        let jids = USERS.values(form);
        if jids.is_empty() {
            return Err(USERS.missing());
        }
        if jids.len() > MAX_USERS {
            return Err(Failure::bad_request(format!(
                "ask about at most {MAX_USERS} users at once, not {}",
                jids.len()
            )));
        }
        Ok(StatusQuery {
            jids: jids.to_vec(),
        })
    }
}

impl Node for Status {
    const NODE: &'static str = "status";
    const NAME: &'static str = "Status of users";
    type Caller = Platform;
    type Query = StatusQuery;
    const DOC: Option<Doc> = Some(Doc {
        about: "The status of users (at most 100): availability, status text, when last seen, a self-defined status, and what the platform may do for each. A user who does not share reads as one the bridge never heard of.",
        input: &[USERS],
        answer: AnswerDoc {
            form_type: FORM_TYPE,
            title: "Status of users",
            fields: &[],
            columns: &[USER, AVAILABILITY, STATUS, LAST_SEEN, SELF_STATUS, SELF_STATUS_BY, SELF_STATUS_AT, RIGHTS],
        },
    });

    fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
        Some(blank_form(
            FORM_TYPE,
            "Status of users",
            "The users whose status you want, one JID per line.",
            &[USERS],
        ))
    }

    fn run(query: StatusQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
        answer(query.jids, Waited::default(), ctx)
    }
}

/// One user's line.
enum Row {
    Known {
        jid: BareJid,
        availability: &'static str,
        /// Every status text with its language (empty for none).
        texts: Vec<(String, String)>,
        /// The one shown where only one can be (the directory's preference).
        preferred: Option<String>,
        last_seen: Option<u32>,
        self_status: Option<SelfStatusRecord>,
        rights: Rights,
    },
    /// Not a user of a served domain: reported `unknown`, with the reason as a note.
    NotOurs { jid: String, why: String },
}

struct StatusAnswer {
    rows: Vec<Row>,
    /// What the platform may do for a user of this server who lets it see them: in the
    /// compact shape, the rights of every user whose own are not given.
    usual: Rights,
}

impl Answer for StatusAnswer {
    fn write(&self, out: &mut ResultWriter<'_, '_>) {
        out.begin(FORM_TYPE, "Status of users");
        out.columns(&[
            USER,
            AVAILABILITY,
            STATUS,
            LAST_SEEN,
            SELF_STATUS,
            SELF_STATUS_BY,
            SELF_STATUS_AT,
            RIGHTS,
        ]);
        for row in &self.rows {
            match row {
                Row::Known {
                    jid,
                    availability,
                    texts,
                    last_seen,
                    self_status,
                    rights,
                    ..
                } => out.row(&[
                    cell(&USER, jid.as_str()),
                    cell(&AVAILABILITY, availability),
                    cells(&STATUS, &labelled(texts)),
                    cell(
                        &LAST_SEEN,
                        &last_seen.map_or_else(String::new, |at| datetime::format(u64::from(at))),
                    ),
                    cell(
                        &SELF_STATUS,
                        self_status.as_ref().map_or("", |s| s.text.as_str()),
                    ),
                    cell(
                        &SELF_STATUS_BY,
                        self_status.as_ref().map_or("", |s| s.set_by.as_str()),
                    ),
                    cell(
                        &SELF_STATUS_AT,
                        &self_status
                            .as_ref()
                            .map_or_else(String::new, |s| datetime::format(u64::from(s.set_at))),
                    ),
                    cell(&RIGHTS, rights_value(*rights)),
                ]),
                Row::NotOurs { jid, why } => {
                    out.note(NoteType::Warn, why.as_str());
                    out.row(&[
                        cell(&USER, jid),
                        cell(&AVAILABILITY, "unknown"),
                        cell(&STATUS, ""),
                        cell(&LAST_SEEN, ""),
                        cell(&SELF_STATUS, ""),
                        cell(&SELF_STATUS_BY, ""),
                        cell(&SELF_STATUS_AT, ""),
                        cell(&RIGHTS, ""),
                    ]);
                }
            }
        }
    }

    fn compact(&self, out: &mut CompactWriter<'_, '_>) -> bool {
        out.root("users", &[(RIGHTS.var, rights_value(self.usual))]);
        for row in &self.rows {
            match row {
                Row::Known {
                    jid,
                    availability,
                    preferred,
                    last_seen,
                    self_status,
                    rights,
                    ..
                } => {
                    let last_seen = last_seen.map(|at| datetime::format(u64::from(at)));
                    let set_at = self_status
                        .as_ref()
                        .map(|s| datetime::format(u64::from(s.set_at)));
                    out.item(|xml| {
                        compact_item(
                            xml,
                            "user",
                            &[
                                (USER.var, jid.as_str()),
                                (AVAILABILITY.var, availability),
                                (LAST_SEEN.var, last_seen.as_deref().unwrap_or("")),
                                (
                                    SELF_STATUS.var,
                                    self_status.as_ref().map_or("", |s| s.text.as_str()),
                                ),
                                (
                                    SELF_STATUS_BY.var,
                                    self_status.as_ref().map_or("", |s| s.set_by.as_str()),
                                ),
                                (SELF_STATUS_AT.var, set_at.as_deref().unwrap_or("")),
                                (RIGHTS.var, rights_other_than(*rights, self.usual)),
                            ],
                            preferred.as_deref().unwrap_or(""),
                        )
                    });
                }
                Row::NotOurs { jid, .. } => out.item(|xml| {
                    compact_item(
                        xml,
                        "user",
                        &[
                            (USER.var, jid),
                            (AVAILABILITY.var, "unknown"),
                            ("served", "0"),
                            (RIGHTS.var, rights_other_than(Rights::NONE, self.usual)),
                        ],
                        "",
                    )
                }),
            }
        }
        true
    }

    fn summary(&self) -> String {
        // What is sent is cut at MAX_SUMMARY_CHARS (render::summary): lines past that are
        // not made at all.
        let mut summary = String::new();
        let mut chars = 0;
        let lines = self.rows.iter().map(|row| match row {
            Row::Known {
                jid,
                availability,
                texts,
                last_seen,
                self_status,
                ..
            } => {
                let mut line = format!("{jid} is {}", in_words(availability));
                if let Some(text) = labelled(texts).first() {
                    line.push_str(&format!(" (\"{text}\")"));
                }
                if let Some(s) = self_status {
                    line.push_str(&format!(", status for games \"{}\"", s.text));
                }
                if let Some(at) = last_seen {
                    line.push_str(&format!(", last seen {}", datetime::format(u64::from(*at))));
                }
                line
            }
            Row::NotOurs { jid, .. } => format!("{jid} is not a user of this chat server"),
        });
        for (n, line) in lines.enumerate() {
            if chars > MAX_SUMMARY_CHARS {
                summary.push_str("; …");
                break;
            }
            if n > 0 {
                summary.push_str("; ");
                chars += 2;
            }
            chars += line.chars().count();
            summary.push_str(&line);
        }
        summary
    }
}

/// Status texts as the form shows them: those with a language as `[lang] text`.
fn labelled(texts: &[(String, String)]) -> Vec<String> {
    texts
        .iter()
        .map(|(lang, text)| {
            if lang.is_empty() {
                text.clone()
            } else {
                format!("[{lang}] {text}")
            }
        })
        .collect()
}

/// An availability as a person reads it.
fn in_words(availability: &str) -> &str {
    match availability {
        "chat" => "free to chat",
        "xa" => "away for a while",
        "dnd" => "busy",
        "unknown" => "of unknown availability",
        other => other,
    }
}

fn answer(
    jids: Vec<String>,
    waited: Waited,
    ctx: &mut Ctx<'_, Platform>,
) -> Result<Flow<Platform>, Failure> {
    let now = unix_secs(ctx.now);
    let directory = ctx.directory;
    // On a server that does not tell every departure, users whose resources were not
    // confirmed lately are confirmed first (XEP-0199 pings), at most once per interval.
    if waited.may_check() && directory.verifies_any() {
        // Only users the answer will report: of served hosts whose grants allow it, who
        // let the platform see them.
        let checks: Vec<_> = jids
            .iter()
            .filter_map(|jid| served_user(jid, ctx.directory, &[Grant::Presence]).ok())
            .filter(|jid| ctx.visible(jid.as_str()))
            .filter_map(|jid| directory.id(jid.as_str()))
            .filter(|&id| !directory.unconfirmed(id, now).is_empty())
            .collect();
        if !checks.is_empty() {
            let needs = Needs {
                checks,
                ..Needs::default()
            };
            let waited = waited.after(&needs);
            return Flow::wait(needs, move |ctx| answer(jids, waited, ctx));
        }
    }
    // When users the directory has not seen leave were last seen: read from the database
    // together, before anything is disclosed.
    let unknown: Vec<String> = jids
        .iter()
        .filter_map(|jid| served_user(jid, ctx.directory, &[Grant::Presence]).ok())
        .filter(|user| ctx.visible(user.as_str()))
        .filter(|user| {
            !matches!(
                directory.seen_by_name(user.as_str(), now),
                Seen::Online { .. } | Seen::Offline { last_seen: Some(_) }
            ) && directory.last_seen_by_name(user.as_str()).is_none()
        })
        .map(|user| user.to_string())
        .collect();
    let stored = if unknown.is_empty() {
        HashMap::new()
    } else {
        crate::fetched!(ctx.stored_last_seen(unknown), move |ctx| answer(
            jids, waited, ctx
        ))
    };
    let mut rows = Vec::with_capacity(jids.len());
    for jid in &jids {
        let user = match served_user(jid, ctx.directory, &[Grant::Presence]) {
            Ok(user) => user,
            Err(failure)
                if failure.condition
                    == xmpp_parsers::stanza_error::DefinedCondition::ItemNotFound =>
            {
                // Not ours: say so in the table and in a note, and go on with the others.
                rows.push(Row::NotOurs {
                    jid: jid.trim().to_owned(),
                    why: failure.text,
                });
                continue;
            }
            Err(failure) => return Err(failure),
        };
        if !ctx.visible(user.as_str()) {
            // Exactly what a user the bridge never heard of gets.
            rows.push(Row::Known {
                availability: availability_label(&directory.never_seen(user.as_str())),
                texts: Vec::new(),
                preferred: None,
                last_seen: None,
                self_status: None,
                rights: ctx.rights_for(user.as_str(), false),
                jid: user,
            });
            continue;
        }
        ctx.disclose(user.as_str());
        let seen = directory.seen_by_name(user.as_str(), now);
        let (texts, preferred): (Vec<(String, String)>, _) = match &seen {
            Seen::Online { status, .. } => (
                status
                    .all()
                    .into_iter()
                    .map(|(lang, text)| (lang.to_owned(), text.to_owned()))
                    .collect(),
                status.preferred().map(str::to_owned),
            ),
            _ => (Vec::new(), None),
        };
        // For offline and unknown users alike: the last time they were seen online.
        let last_seen = match seen {
            Seen::Online { .. } => None,
            Seen::Offline {
                last_seen: Some(at),
            } => Some(at),
            _ => directory
                .last_seen_by_name(user.as_str())
                .or_else(|| stored.get(user.as_str()).copied()),
        };
        rows.push(Row::Known {
            availability: availability_label(&seen),
            self_status: ctx.self_status.get(user.as_str()).cloned(),
            rights: ctx.rights_for(user.as_str(), false),
            jid: user,
            texts,
            preferred,
            last_seen,
        });
    }
    let usual = ctx.rights_of(Subject {
        consenting: true,
        remote: false,
    });
    Flow::done(StatusAnswer { rows, usual })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{jid, Bench};
    use crate::directory::presence::Availability;

    #[test]
    fn reports_each_user_and_says_which_are_not_served() {
        let mut bench = Bench::new();
        bench.online("bob", Availability::Away, Some("brb"));
        let users = [jid("bob"), jid("zed"), "rob@other.example".to_owned()];
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let ran = bench.run::<Status>(&bench.platform(), &[("jids", &users)]);
        let rows = ran.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][1].1, "away");
        assert_eq!(rows[0][2].1, "brb");
        assert_eq!(rows[2][1].1, "unknown");
        assert!(
            ran.summary().contains("rob@other.example is not a user"),
            "{}",
            ran.summary()
        );
        assert_eq!(
            ran.compact().children().nth(2).unwrap().attr("served"),
            Some("0")
        );
    }

    #[test]
    fn asks_for_at_least_one_user_and_at_most_the_limit() {
        let bench = Bench::new();
        let none = bench.run::<Status>(&bench.platform(), &[]);
        assert_eq!(
            none.failure().text,
            "the form needs the field \"jids\": at least one user JID"
        );
        let many: Vec<String> = (0..=MAX_USERS).map(|n| jid(&format!("u{n}"))).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let ran = bench.run::<Status>(&bench.platform(), &[("jids", &many)]);
        assert!(ran
            .failure()
            .text
            .starts_with("ask about at most 100 users"));
    }
}
