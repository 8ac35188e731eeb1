//! XEP-0050 Ad-Hoc Commands: the command nodes and the session machinery around them.
//!
//! A request goes through *permission check → parse → handler*: [`admit`] decides from
//! the node name whether the requester may run the node ([`access::may_run`]), only then
//! the core parses the `<command/>` payload and its form, and then the node's handler
//! (one file per node) runs. Handlers hold no permission logic and never touch the
//! socket.
//!
//! Implements XEP-0050 §2.2 (command list via disco#items on the commands node, filtered by
//! what the requester may run), §2.3 (disco#info on a node), §3 (execution with
//! `sessionid`, `execute`/`next`/`prev`/`complete`/`cancel`), and §6 (the
//! `malformed-action`, `bad-action`, `bad-sessionid` and `session-expired` conditions).

pub mod access;
pub mod peers;
pub mod session;
pub mod stats;
pub mod status;

use std::time::SystemTime;

use crate::core::failure::{quote, Failure};
use crate::core::State;
use crate::xep::commands::{Action, Actions, Command, Note, NoteType, SpecificCondition, Status};
use crate::xep::forms::{escaped_len, DataForm, Field};

use crate::core::parked::Waited;
use crate::directory::UserId;
pub use access::Requester;
pub use session::{Sessions, Stage};

/// Every command node the component offers. The node string is part of the public
/// interface: platforms and scripts address commands by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// Operator statistics.
    Stats,
    /// A user's active chat peers, for platforms.
    Peers,
    /// Users' availability, status texts and last seen, for platforms.
    Status,
    /// A two-step command that exists only to exercise the session machinery in tests.
    #[cfg(test)]
    Echo,
}

impl Node {
    pub const ALL: &'static [Node] = &[
        Node::Peers,
        Node::Status,
        Node::Stats,
        #[cfg(test)]
        Node::Echo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Node::Stats => "stats",
            Node::Peers => "peers",
            Node::Status => "status",
            #[cfg(test)]
            Node::Echo => "test-echo",
        }
    }

    /// The name a chat client shows in its command list.
    pub fn name(self) -> &'static str {
        match self {
            Node::Stats => "Bridge statistics",
            Node::Peers => "Active chat peers of a user",
            Node::Status => "Status of users",
            #[cfg(test)]
            Node::Echo => "Echo (test)",
        }
    }

    pub fn parse(node: &str) -> Option<Node> {
        Node::ALL.iter().copied().find(|n| n.as_str() == node)
    }
}

/// What a handler decided for this step.
#[derive(Debug)]
pub enum Step {
    /// The command is done; the result form and notes go back with `status='completed'`.
    Completed {
        form: Option<DataForm>,
        notes: Vec<Note>,
    },
    /// More input is needed: the form to fill, the actions allowed, and the state to keep.
    Continue {
        form: DataForm,
        actions: Actions,
        stage: Stage,
    },
    /// The answer needs something from the server first: the core asks for it, and runs
    /// the request again when it is in (or could not be had).
    Wait(Needs),
}

/// What a request waits for from the server before it can be answered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// This user's roster.
    pub roster: Option<UserId>,
    /// Pings confirming these users' resources that were not confirmed lately.
    pub checks: Vec<UserId>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.roster.is_none() && self.checks.is_empty()
    }
}

/// What [`execute`] produced.
#[derive(Debug)]
pub enum Reply {
    Done(Box<Command>),
    /// Put the request aside and run it again once the server gave what it needs.
    Wait(Needs),
}

/// What a handler needs besides the request.
pub struct Context<'a> {
    pub now: SystemTime,
    pub requester: &'a Requester,
    pub state: &'a mut State,
    /// What the request already waited for, when it runs again: handlers answer with
    /// what they have instead of asking for the same kind of thing without end.
    pub waited: Waited,
    /// The largest stanza the bridge sends; a table is cut to fit well within it.
    pub max_reply_bytes: usize,
}

/// Room kept in a reply for what surrounds a table: the IQ, the command, the form's
/// own fields and notes.
const REPLY_OVERHEAD: usize = 8 * 1024;

/// A result table that stays within the reply's size: rows are added in order while
/// they fit; the rest are counted and a note says how many were left out.
pub struct Table {
    budget: usize,
    used: usize,
    left_out: usize,
}

impl Table {
    pub fn new(ctx: &Context<'_>) -> Table {
        Table {
            budget: ctx.max_reply_bytes.saturating_sub(REPLY_OVERHEAD),
            used: 0,
            left_out: 0,
        }
    }

    /// Adds `row` to `form` if it fits (and every row before it did).
    pub fn push(&mut self, form: &mut DataForm, row: Vec<Field>) {
        let len = 32 + row.iter().map(Field::wire_len).sum::<usize>();
        if self.left_out > 0 || self.used + len > self.budget {
            self.left_out += 1;
        } else {
            self.used += len;
            form.push_item(row);
        }
    }

    /// Counts a note against the same budget; `false` (and nothing added) if it does not fit.
    pub fn note(&mut self, notes: &mut Vec<Note>, note: Note) -> bool {
        let len = 64 + escaped_len(&note.text);
        if self.used + len > self.budget {
            return false;
        }
        self.used += len;
        notes.push(note);
        true
    }

    /// The note saying how many rows were left out, if any.
    pub fn finish(self, notes: &mut Vec<Note>) {
        if self.left_out > 0 {
            notes.push(Note {
                type_: NoteType::Warn,
                text: format!(
                    "{} rows left out: the whole answer would be larger than the chat server lets the bridge send; ask about fewer users",
                    self.left_out
                ),
            });
        }
    }
}

/// The node named `name`, if `requester` may run it. Decided from the node name and the
/// requester alone, before anything else of the request (its form above all) is read.
pub fn admit(name: &str, requester: &Requester) -> Result<Node, Failure> {
    let node = Node::parse(name).ok_or_else(|| {
        Failure::item_not_found(format!("there is no command named {}", quote(name)))
    })?;
    if !access::may_run(node, requester) {
        return Err(Failure::forbidden(access::refusal(node)));
    }
    Ok(node)
}

/// Runs one XEP-0050 request for `node` (admitted by [`admit`]) and returns the
/// `<command/>` to send back.
pub fn execute(
    node: Node,
    request: Command,
    sessions: &mut Sessions,
    ctx: &mut Context<'_>,
) -> Result<Reply, Failure> {
    let step = match request.sessionid.as_deref() {
        None => {
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
            start(node, request.form.as_ref(), ctx)?
        }
        Some(id) => {
            let session = sessions.take(id, node, &ctx.requester.jid, ctx.now)?;
            let action = match request.action {
                Some(Action::Cancel) => {
                    return Ok(Reply::Done(Box::new(Command::response(
                        node.as_str(),
                        id,
                        Status::Canceled,
                    ))));
                }
                // "execute" (or no action) means the default the last step offered.
                None | Some(Action::Execute) => session.actions.execute.unwrap_or(Action::Complete),
                Some(action) => action,
            };
            if !session.actions.allowed.contains(&action) {
                sessions.restore(id.to_owned(), session, ctx.now);
                return Err(Failure::bad_request(format!(
                    "action {:?} is not offered at this step",
                    action.as_str()
                ))
                .with_specific(SpecificCondition::BadAction));
            }
            let step = advance(
                node,
                session.stage.clone(),
                action,
                request.form.as_ref(),
                ctx,
            );
            match step {
                // The step runs again when the roster is in, or the requester corrects
                // the form and submits again: either way the session lives on.
                Ok(Step::Wait(_)) | Err(_) => {
                    sessions.restore(id.to_owned(), session, ctx.now);
                }
                Ok(_) => {}
            }
            step?
        }
    };
    let step = match step {
        Step::Wait(needs) => return Ok(Reply::Wait(needs)),
        step => step,
    };
    ctx.state.stats.commands_served += 1;
    // Responses always carry a session id, single-step ones included (XEP-0050 §3.4).
    let id = match request.sessionid {
        Some(id) => id,
        None => sessions.new_id(),
    };
    Ok(Reply::Done(Box::new(match step {
        Step::Wait(_) => return Err(Failure::internal()),
        Step::Completed { form, notes } => {
            let mut response = Command::response(node.as_str(), id, Status::Completed);
            response.form = form;
            response.notes = notes;
            response
        }
        Step::Continue {
            form,
            actions,
            stage,
        } => {
            sessions.insert(
                id.clone(),
                node,
                ctx.requester.jid.clone(),
                stage,
                actions.clone(),
                ctx.now,
            );
            Command::response(node.as_str(), id, Status::Executing)
                .with_form(form)
                .with_actions(actions)
        }
    })))
}

fn start(node: Node, form: Option<&DataForm>, ctx: &mut Context<'_>) -> Result<Step, Failure> {
    match node {
        Node::Stats => {
            let _ = form;
            stats::run(ctx)
        }
        Node::Peers => peers::start(form, ctx),
        Node::Status => status::start(form, ctx),
        #[cfg(test)]
        Node::Echo => session::tests::echo_start(form),
    }
}

fn advance(
    node: Node,
    stage: Stage,
    action: Action,
    form: Option<&DataForm>,
    ctx: &mut Context<'_>,
) -> Result<Step, Failure> {
    match (node, stage) {
        (Node::Peers, Stage::AskedForUser) => peers::submit(action, form, ctx),
        (Node::Status, Stage::AskedForUsers) => status::submit(action, form, ctx),
        #[cfg(test)]
        (Node::Echo, stage) => session::tests::echo_advance(stage, action, form),
        (node, _) => {
            let _ = (action, form);
            Err(
                Failure::bad_request(format!("command {:?} has only one step", node.as_str()))
                    .with_specific(SpecificCondition::BadSessionid),
            )
        }
    }
}

/// A note of type `info`, the kind most results carry.
pub fn info(text: impl Into<String>) -> Note {
    Note {
        type_: NoteType::Info,
        text: text.into(),
    }
}
