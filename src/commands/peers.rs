//! `peers`: the active chat peers of a user, for game platforms.
//!
//! Input: `jid` (the user). Output: a result form, FORM_TYPE [`FORM_TYPE`], with the
//! user's own `availability` and the `tier` used, and a `<reported/>` table of peers
//! (`jid`, `availability`, `status`, `last-activity`, `tier`, `remote`: `1` for a contact
//! on another server, listed only where `privacy.remote_peers` allows), most recent
//! activity first. `last-activity` is the last exchange of messages in the conversation tier and
//! the last presence change in the presence tier. It can be run in one step by sending the submitted form with `execute`.

use super::{Context, Needs, Step, Table};
use crate::core::failure::{quote, Failure};
use crate::directory::peers::{active_peers, tier_for};
use crate::xep::commands::{Action, Actions};
use crate::xep::datetime;
use crate::xep::forms::{DataForm, Field, FormType};

use super::session::Stage;
use super::status::{availability_label, served_user};
use crate::directory::{grants, unix_secs, Seen};

pub const FORM_TYPE: &str = "urn:xmpp-game-bridge:peers:1";

pub fn start(form: Option<&DataForm>, ctx: &mut Context<'_>) -> Result<Step, Failure> {
    match form {
        // One step: a submitted form must hold the answer's input.
        Some(form) if form.type_ == FormType::Submit => submit(Action::Complete, Some(form), ctx),
        _ => {
            let mut form = DataForm::new(FormType::Form, Some(FORM_TYPE))
                .with_title("Active chat peers")
                .with_instructions("The user whose active chat peers you want.");
            form.push_field(Field::jid_single("jid", "User").required());
            Ok(Step::Continue {
                form,
                actions: Actions {
                    execute: Some(Action::Complete),
                    allowed: vec![Action::Complete],
                },
                stage: Stage::AskedForUser,
            })
        }
    }
}

pub fn submit(
    _action: Action,
    form: Option<&DataForm>,
    ctx: &mut Context<'_>,
) -> Result<Step, Failure> {
    let jid = form.and_then(|f| f.value("jid")).ok_or_else(|| {
        Failure::bad_request("the form needs the field \"jid\": the user whose peers you want")
    })?;
    answer(jid, ctx)
}

fn answer(jid: &str, ctx: &mut Context<'_>) -> Result<Step, Failure> {
    let now = unix_secs(ctx.now);
    let jid = served_user(jid, ctx, &grants::NEEDED)?;
    let directory = &ctx.state.directory;
    // Only a user who may be available has active peers. For anyone else nothing is
    // fetched and nothing is kept: a platform asking about a million names grows nothing.
    let candidate = directory
        .id(jid.as_str())
        .filter(|&id| directory.might_be_active(id));
    let mut needs = Needs::default();
    if let Some(user) = candidate {
        // On a server that does not tell every departure, the user and the peers to be
        // listed are confirmed first (XEP-0199 pings), at most once per interval.
        let waited = ctx.waited;
        if waited.may_check() && !directory.unconfirmed(user, now).is_empty() {
            needs.checks.push(user);
        }
        let max_age = directory.config.roster_max_age.as_secs() as u32;
        if !directory.rosters.is_fresh(user, now, max_age) {
            if waited.may_fetch_roster() {
                needs.roster = Some(user);
            } else if directory.rosters.peek(user).is_none() {
                return Err(match directory.rosters.refusal(user) {
                    Some(condition) => Failure::service_unavailable(format!(
                        "the chat server refused to give the roster of {} ({condition})",
                        quote(jid.as_str())
                    )),
                    None => Failure::remote_timeout(format!(
                        "the chat server did not send the roster of {} in time; try again",
                        quote(jid.as_str())
                    )),
                });
            }
            // A stale roster is better than none when the server did not answer.
        }
        if needs.roster.is_none() && waited.may_check() {
            let mutual = directory.rosters.peek(user).map_or(&[][..], |r| &r.mutual);
            needs.checks.extend(mutual.iter().copied().filter(|&peer| {
                peer != user
                    && directory.might_be_active(peer)
                    && !directory.unconfirmed(peer, now).is_empty()
            }));
        }
    }
    if !needs.is_empty() {
        return Ok(Step::Wait(needs));
    }
    let active_user = candidate.filter(|&id| {
        matches!(directory.seen(id, now), Seen::Online { availability, .. } if availability.is_active())
    });
    let peers = match active_user {
        None => Vec::new(),
        Some(user) => {
            let directory = &mut ctx.state.directory;
            directory.rosters.get(user);
            let directory = &ctx.state.directory;
            let mutual = directory.rosters.peek(user).map_or(&[][..], |r| &r.mutual);
            active_peers(
                directory,
                user,
                mutual,
                tier_for(directory, jid.as_str()),
                now,
            )
        }
    };
    let directory = &ctx.state.directory;
    let tier = tier_for(directory, jid.as_str());

    let mut form = DataForm::new(FormType::Result, Some(FORM_TYPE)).with_title("Active chat peers");
    form.push_field(Field::value("jid", jid.as_str()));
    form.push_field(Field::value(
        "availability",
        availability_label(&directory.seen_by_name(jid.as_str(), now)),
    ));
    form.push_field(Field::value("tier", tier.as_str()));
    let mut remote = Field::boolean("remote", "On another server", false);
    remote.values.clear();
    form.set_reported(vec![
        Field::jid_single("jid", "Peer"),
        Field::text_single("availability", "Availability", None),
        Field::text_single("status", "Status", None),
        Field::text_single("last-activity", "Last activity", None),
        Field::text_single("tier", "Tier", None),
        remote,
    ]);
    let mut table = Table::new(ctx);
    for peer in &peers {
        let mut item = vec![
            Field::value("jid", directory.name(peer.id)),
            Field::value("availability", peer.availability.as_str()),
        ];
        item.push(match &peer.status {
            Some(text) => Field::value("status", text),
            None => Field {
                var: Some("status".to_owned()),
                ..Field::default()
            },
        });
        item.push(Field::value(
            "last-activity",
            datetime::format(u64::from(peer.last_activity)),
        ));
        item.push(Field::value("tier", tier.as_str()));
        let remote = directory.is_remote(directory.name(peer.id));
        item.push(Field::value("remote", if remote { "1" } else { "0" }));
        table.push(&mut form, item);
    }
    let mut notes = Vec::new();
    table.finish(&mut notes);
    Ok(Step::Completed {
        form: Some(form),
        notes,
    })
}
