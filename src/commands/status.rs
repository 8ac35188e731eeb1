//! `status`: availability, status texts and last seen of one or many users, for game
//! platforms.
//!
//! Input: `jids` (one or more users, at most [`MAX_USERS`]). Output: a result form,
//! FORM_TYPE [`FORM_TYPE`], with a `<reported/>` table: `jid`, `availability` (`chat`,
//! `available`, `away`, `xa`, `dnd`, `offline` or `unknown`), `status` (every status text,
//! those with a language as `[lang] text`), `last-seen` (XEP-0082: when an offline or
//! unknown user was last seen online, if the component saw it). Users of hosts this bridge does not serve are `unknown`, with a
//! warning note saying so.

use std::str::FromStr;

use xmpp_parsers::jid::BareJid;

use super::session::Stage;
use super::{Context, Needs, Step, Table};
use crate::core::failure::{quote, Failure};
use crate::directory::grants::{self, Grant};
use crate::directory::Seen;
use crate::xep::commands::{Action, Actions, Note, NoteType};
use crate::xep::datetime;
use crate::xep::forms::{DataForm, Field, FormType};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:status:1";

/// Users one request may ask about.
pub const MAX_USERS: usize = 100;

pub fn start(form: Option<&DataForm>, ctx: &mut Context<'_>) -> Result<Step, Failure> {
    match form {
        // One step: a submitted form must hold the answer's input.
        Some(form) if form.type_ == FormType::Submit => submit(Action::Complete, Some(form), ctx),
        _ => {
            let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
                .with_title("Status of users")
                .with_instructions("The users whose status you want, one JID per line.");
            form.push_field(Field::jid_multi("jids", "Users", Vec::<String>::new()).required());
            Ok(Step::Continue {
                form,
                actions: Actions {
                    execute: Some(Action::Complete),
                    allowed: vec![Action::Complete],
                },
                stage: Stage::AskedForUsers,
            })
        }
    }
}

pub fn submit(
    _action: Action,
    form: Option<&DataForm>,
    ctx: &mut Context<'_>,
) -> Result<Step, Failure> {
    let jids = form.map(|f| f.values("jids").to_vec()).unwrap_or_default();
    if jids.is_empty() {
        return Err(Failure::bad_request(
            "the form needs the field \"jids\": at least one user JID",
        ));
    }
    answer(&jids, ctx)
}

/// The word the tables use for what the directory knows of a user.
pub fn availability_label(seen: &Seen<'_>) -> &'static str {
    match seen {
        Seen::Online { availability, .. } => availability.as_str(),
        Seen::Offline { .. } => "offline",
        Seen::Unknown => "unknown",
    }
}

/// Checks that `jid` is a user of a served domain whose server granted `needs`.
pub fn served_user(jid: &str, ctx: &Context<'_>, needs: &[Grant]) -> Result<BareJid, Failure> {
    let jid = parse_user(jid)?;
    let directory = &ctx.state.directory;
    let domain = directory.domain_of(jid.as_str()).ok_or_else(|| {
        Failure::item_not_found(format!(
            "{} is not a user of this chat server; this bridge serves {}",
            quote(jid.as_str()),
            served_list(ctx)
        ))
    })?;
    let missing: Vec<&str> = grants::missing(domain.privilege.as_ref())
        .into_iter()
        .filter(|g| needs.contains(g))
        .map(Grant::setting)
        .collect();
    if !missing.is_empty() && domain.privilege.is_none() && !directory.grants_settled(domain) {
        // Right after a (re)connect the advertisement may still be on its way.
        return Err(Failure::remote_timeout(format!(
            "the bridge has just connected to the chat server of {} and is still learning what it may do there; try again in a moment",
            domain.jid
        )));
    }
    if !missing.is_empty() {
        return Err(Failure::service_unavailable(format!(
            "the chat server has not granted this bridge the {} privilege for {}, so it cannot answer; the operator finds the configuration to add in the bridge's log",
            missing.join(" and "),
            domain.jid
        )));
    }
    Ok(jid)
}

fn parse_user(jid: &str) -> Result<BareJid, Failure> {
    let parsed = BareJid::from_str(jid.trim())
        .map_err(|e| Failure::bad_request(format!("{:?} is not a valid JID ({e})", quote(jid))))?;
    if parsed.node().is_none() {
        return Err(Failure::bad_request(format!(
            "{:?} is a server, not a user: give a JID such as alice@example.org",
            quote(jid)
        )));
    }
    Ok(parsed)
}

fn served_list(ctx: &Context<'_>) -> String {
    ctx.state
        .directory
        .domains
        .iter()
        .map(|d| d.jid.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn answer(jids: &[String], ctx: &mut Context<'_>) -> Result<Step, Failure> {
    if jids.len() > MAX_USERS {
        return Err(Failure::bad_request(format!(
            "ask about at most {MAX_USERS} users at once, not {}",
            jids.len()
        )));
    }
    // On a server that does not tell every departure, users whose resources were not
    // confirmed lately are confirmed first (XEP-0199 pings), at most once per interval.
    if ctx.waited.may_check() {
        let now = crate::directory::unix_secs(ctx.now);
        let directory = &ctx.state.directory;
        // Only users the answer will report: of served hosts whose grants allow it.
        let checks: Vec<_> = jids
            .iter()
            .filter_map(|jid| served_user(jid, ctx, &[Grant::Presence]).ok())
            .filter_map(|jid| directory.id(jid.as_str()))
            .filter(|&id| !directory.unconfirmed(id, now).is_empty())
            .collect();
        if !checks.is_empty() {
            return Ok(Step::Wait(Needs {
                roster: None,
                checks,
            }));
        }
    }
    let mut form = DataForm::new(FormType::Result, Some(FORM_TYPE)).with_title("Status of users");
    form.set_reported(vec![
        Field::jid_single("jid", "User"),
        Field::text_single("availability", "Availability", None),
        Field::text_multi("status", "Status", Vec::<String>::new()),
        Field::text_single("last-seen", "Last seen", None),
    ]);
    let mut notes = Vec::new();
    let mut table = Table::new(ctx);
    for jid in jids {
        let user = match served_user(jid, ctx, &[Grant::Presence]) {
            Ok(user) => user,
            Err(failure)
                if failure.condition
                    == xmpp_parsers::stanza_error::DefinedCondition::ItemNotFound =>
            {
                // Not ours: say so in the table and in a note, and go on with the others.
                table.note(
                    &mut notes,
                    Note {
                        type_: NoteType::Warn,
                        text: failure.text,
                    },
                );
                table.push(
                    &mut form,
                    vec![
                        Field::value("jid", jid.trim()),
                        Field::value("availability", "unknown"),
                        empty("status"),
                        empty("last-seen"),
                    ],
                );
                continue;
            }
            Err(failure) => return Err(failure),
        };
        let directory = &ctx.state.directory;
        let seen = directory.seen_by_name(user.as_str(), crate::directory::unix_secs(ctx.now));
        let texts: Vec<String> = match &seen {
            Seen::Online { status, .. } => status
                .all()
                .into_iter()
                .map(|(lang, text)| {
                    if lang.is_empty() {
                        text.to_owned()
                    } else {
                        format!("[{lang}] {text}")
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        // For offline and unknown users alike: the last time they were seen online.
        let last_seen = match seen {
            Seen::Online { .. } => None,
            Seen::Offline {
                last_seen: Some(at),
            } => Some(at),
            _ => match directory.last_seen_by_name(user.as_str()) {
                Some(at) => Some(at),
                None => ctx.state.stored_last_seen(user.as_str())?,
            },
        };
        let mut status = Field::text_multi("status", "", texts);
        status.type_ = None;
        status.label = None;
        table.push(
            &mut form,
            vec![
                Field::value("jid", user.as_str()),
                Field::value("availability", availability_label(&seen)),
                status,
                match last_seen {
                    Some(at) => Field::value("last-seen", datetime::format(u64::from(at))),
                    None => empty("last-seen"),
                },
            ],
        );
    }
    table.finish(&mut notes);
    Ok(Step::Completed {
        form: Some(form),
        notes,
    })
}

fn empty(var: &str) -> Field {
    Field {
        var: Some(var.to_owned()),
        ..Field::default()
    }
}
