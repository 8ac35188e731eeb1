//! XEP-0050 command nodes: one file per node, and the registry that lists them.
//!
//! A node is declared, not wired. Adding one:
//! 1. a file: its fields declared once ([`fields::Spec`]), a typed query read from them,
//!    a typed result (an [`Answer`]), and [`Node`]: its name, the [`Caller`] it serves,
//!    the right it needs, its blank form, its handler; its tests beside it, through
//!    `testkit.rs` (which has an example node, whole, in its tests);
//! 2. `pub mod` for the file, and one line in [`NODES`].
//!
//! The core does the rest, whichever front door the request came through: it decides
//! the actor, checks the node's access before reading the form, runs the XEP-0050
//! session rules for a command, renders the result ([`render`]), commits the handler's
//! writes and only then sends its effects. Disco answers come from the registry
//! ([`disco`]).
//!
//! A handler is given a [`Ctx`]: its caller, already narrowed to the type the node
//! serves (a [`Platform`], a [`User`], an [`Operator`]); a read-only [`View`] of what the
//! core holds (the directory, consent, registry, statuses, prompts, invites, mutes, the
//! settings, the time, and the database through [`Reads`], which has no writer); and an
//! [`Out`] where it puts its outputs: the transaction's writes, the [`Effect`]s to send
//! once they are committed, and the ids it draws. The answer is what it returns. When it
//! needs something from the chat server it returns [`Flow::Await`] with a continuation,
//! which the core keeps with the operations it waits for and resumes exactly once.
//!
//! A handler cannot write to the database around its transaction; the compiler refuses
//! it:
//!
//! ```compile_fail,E0599
//! # use xmpp_game_bridge::commands::{Ctx, Flow};
//! # use xmpp_game_bridge::failure::Failure;
//! # use xmpp_game_bridge::rights::Platform;
//! fn run(ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
//!     ctx.store.set_meta("next-id", "1")?; // no method `set_meta` on `&dyn Reads`
//!     todo!()
//! }
//! ```

pub mod answer;
pub mod attention;
pub mod disco;
pub mod doc;
pub mod execute;
pub mod fields;
pub mod gaming;
pub mod gather;
pub mod invitations;
pub mod invite;
pub mod invite_close;
pub mod invite_shared;
pub mod invite_status;
pub mod launch;
pub mod mute;
pub mod my_status;
pub mod open_url;
pub mod peers;
pub mod pending;
pub mod privacy;
pub mod publish_gaming;
pub mod render;
pub mod request_consent;
pub mod send_message;
pub mod served;
pub mod set_status;
pub mod settings;
pub mod stats;
pub mod status;
#[cfg(test)]
pub(crate) mod test_nodes;
#[cfg(test)]
pub(crate) mod testkit;
pub mod values;

use std::collections::HashMap;
use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::jid::BareJid;

use crate::directory::self_status::SelfStatuses;
use crate::directory::{Directory, UserId};
use crate::failure::Failure;
use crate::health::Health;
use crate::prompts::Prompts;
use crate::rights::audit::AuditLog;
use crate::rights::consent::Consent;
use crate::rights::platforms::Registry;
use crate::rights::policy::{self, Subject};
use crate::rights::{Access, Actor, Caller, Right, Rights};
pub use crate::rights::{Operator, Platform, User, UserOrPlatform};
pub use crate::store::Write;
use crate::store::{AuditFilter, AuditRecord, InviteRecord, PromptRecord};
pub use crate::store::{Fetched, Read, Reads};
use crate::wire::Stanza;
use crate::xep::forms::DataForm;
pub use render::{Answer, ResultWriter};
pub use settings::RightsConfig;

/// A command node. Implement it in the node's own file and add `def::<YourNode>()` to
/// [`NODES`].
pub trait Node: 'static {
    /// The node name: part of the public interface, platforms address commands by it.
    const NODE: &'static str;
    /// The name a chat client shows in its command list.
    const NAME: &'static str;
    /// Whom it serves (checked before the form is read): the handler is given this type.
    type Caller: Caller;
    /// The right a platform must hold to run it (executable rights), if any.
    const RIGHT: Option<Right> = None;
    /// The typed input, read from the submitted form.
    type Query: for<'f> TryFrom<&'f DataForm, Error = Failure> + Send + 'static;

    /// Chat words that run the node from a chat message (`share`, `status`), each with
    /// what it does, for `help`.
    const WORDS: &'static [Word] = &[];

    /// What it reads and answers, for the documentation ([`doc`]): every node a
    /// platform may run declares it.
    const DOC: Option<doc::Doc> = None;

    /// The form to fill, sent when the node is executed without a submitted form;
    /// `None` when the node needs no input.
    fn form(ctx: &Ctx<'_, Self::Caller>) -> Option<DataForm> {
        let _ = ctx;
        None
    }

    /// The query a chat message means: `word` is one of [`Node::WORDS`] (lowercased),
    /// `rest` what follows it, trimmed.
    fn words(word: &str, rest: &str) -> Result<Self::Query, Failure> {
        let _ = rest;
        Err(Failure::bad_request(format!(
            "\"{word}\" does not work in a chat message here"
        )))
    }

    /// Answers the query.
    fn run(
        query: Self::Query,
        ctx: &mut Ctx<'_, Self::Caller>,
    ) -> Result<Flow<Self::Caller>, Failure>;
}

/// A chat word: the word and, for `help`, how to use it.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    pub word: &'static str,
    /// Whether `help` lists it (with its usage from [`crate::strings::usage`]); an
    /// alias (`n` for `no`) is not.
    pub listed: bool,
}

/// A node as the registry holds it.
pub struct NodeDef {
    pub node: &'static str,
    pub name: &'static str,
    pub access: Access,
    pub right: Option<Right>,
    pub words: &'static [Word],
    pub form: fn(&Actor, &View<'_>) -> Option<DataForm>,
    /// Parses the submitted form into the node's query and runs the handler.
    pub start: fn(&DataForm, &Actor, &View<'_>, &mut Out) -> Result<Progress, Failure>,
    /// Parses a chat message into the node's query and runs the handler.
    pub say: fn(&str, &str, &Actor, &View<'_>, &mut Out) -> Result<Progress, Failure>,
    /// Its documentation.
    pub doc: Option<doc::Doc>,
}

impl std::fmt::Debug for NodeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.node)
    }
}

/// The registry entry of `N`.
pub const fn def<N: Node>() -> NodeDef {
    NodeDef {
        node: N::NODE,
        name: N::NAME,
        access: <N::Caller as Caller>::ACCESS,
        right: N::RIGHT,
        words: N::WORDS,
        form: form::<N>,
        start: start::<N>,
        say: say::<N>,
        doc: N::DOC,
    }
}

/// The caller `actor` is to `N`; the pipeline checked the access before, so a refusal
/// here is the same one.
fn narrow<N: Node>(actor: &Actor) -> Result<N::Caller, Failure> {
    N::Caller::narrow(actor)
        .ok_or_else(|| Failure::forbidden(crate::rights::refusal(N::Caller::ACCESS, N::NODE)))
}

/// The node's own form or, for a platform node that has none, one asking for the
/// inputs its documentation declares: a platform trying a command from a chat client
/// gets the fields to fill, not a refusal for the first one missing.
/// A user's form is in their language ([`fields::in_lang`]).
fn form<N: Node>(actor: &Actor, view: &View<'_>) -> Option<DataForm> {
    let caller = narrow::<N>(actor).ok()?;
    let mut out = Out::default();
    if let Actor::User(user) = actor {
        let lang = view.directory.lang(&user.bare());
        return N::form(&Ctx::new(&caller, view, &mut out)).map(|form| fields::in_lang(lang, form));
    }
    N::form(&Ctx::new(&caller, view, &mut out)).or_else(|| {
        let doc = N::DOC.filter(|d| !d.input.is_empty())?;
        Some(fields::blank_form(
            doc.answer.form_type,
            N::NAME,
            doc.about,
            doc.input,
        ))
    })
}

fn start<N: Node>(
    form: &DataForm,
    actor: &Actor,
    view: &View<'_>,
    out: &mut Out,
) -> Result<Progress, Failure> {
    let caller = narrow::<N>(actor)?;
    let query = N::Query::try_from(form)?;
    let flow = N::run(query, &mut Ctx::new(&caller, view, out))?;
    Ok(flow.erase(caller))
}

fn say<N: Node>(
    word: &str,
    rest: &str,
    actor: &Actor,
    view: &View<'_>,
    out: &mut Out,
) -> Result<Progress, Failure> {
    let caller = narrow::<N>(actor)?;
    let query = N::words(word, rest)?;
    let flow = N::run(query, &mut Ctx::new(&caller, view, out))?;
    Ok(flow.erase(caller))
}

/// Every command node the component offers, in the order command lists show them.
pub static NODES: &[NodeDef] = &[
    def::<peers::Peers>(),
    def::<status::Status>(),
    def::<stats::Stats>(),
    def::<privacy::Privacy>(),
    def::<privacy::PrivacyPage>(),
    def::<my_status::MyStatus>(),
    def::<open_url::OpenUrl>(),
    def::<send_message::SendMessage>(),
    def::<set_status::SetStatus>(),
    def::<attention::Attention>(),
    def::<launch::Launch>(),
    def::<publish_gaming::PublishGaming>(),
    def::<request_consent::RequestConsent>(),
    def::<answer::AnswerPrompt>(),
    def::<invite::Invite>(),
    def::<invite_status::InviteStatus>(),
    def::<invite_close::InviteCancel>(),
    def::<invite_close::SessionStarted>(),
    def::<invite_close::SessionEnded>(),
    def::<pending::Pending>(),
    def::<invitations::Invitations>(),
    def::<mute::Mute>(),
    #[cfg(test)]
    def::<test_nodes::Echo>(),
    #[cfg(test)]
    def::<test_nodes::Remember>(),
];

/// The node named `name`.
pub fn find(name: &str) -> Option<&'static NodeDef> {
    NODES.iter().find(|n| n.node == name)
}

/// The node named `name` and, for a prompt's answer node (`prompt/<id>/yes`), the form
/// it stands for.
pub fn resolve(name: &str) -> Option<(&'static NodeDef, Option<DataForm>)> {
    if let Some(def) = find(name) {
        return Some((def, None));
    }
    let rest = name.strip_prefix(crate::prompts::NODE_PREFIX)?;
    let (id, reply) = rest.split_once('/')?;
    let reply = crate::prompts::Reply::parse(reply)?;
    let mut form = DataForm::new(
        crate::xep::forms::FormType::Submit,
        Some(crate::prompts::FORM_TYPE),
    );
    form.push_field(crate::xep::forms::Field::value(
        crate::prompts::PROMPT_FIELD,
        id,
    ));
    form.push_field(crate::xep::forms::Field::value(
        crate::prompts::ANSWER_FIELD,
        reply.as_str(),
    ));
    Some((find(<answer::AnswerPrompt as Node>::NODE)?, Some(form)))
}

/// The node a chat word (lowercased) runs.
pub fn find_word(word: &str) -> Option<&'static NodeDef> {
    NODES
        .iter()
        .find(|n| n.words.iter().any(|w| w.word == word))
}

/// Longest chat message read, in bytes; a longer one is answered with a short refusal.
pub const MAX_WORDS_BYTES: usize = 1024;

/// A chat message split into its first word (lowercased) and the rest (trimmed).
pub fn split_words(body: &str) -> (String, &str) {
    let body = body.trim();
    let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    (word.to_lowercase(), rest.trim())
}

/// The input of a node that needs none: any submitted form is accepted and ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInput;

impl TryFrom<&DataForm> for NoInput {
    type Error = Failure;
    fn try_from(_: &DataForm) -> Result<NoInput, Failure> {
        Ok(NoInput)
    }
}

/// What a handler decided.
pub enum Flow<C> {
    /// The answer.
    Done(Box<dyn Answer>),
    /// The answer needs something from the server first: the core asks for it and
    /// resumes the continuation, exactly once, when it is in (or could not be had).
    Await(Needs, Continuation<C>),
}

impl<C: Caller> Flow<C> {
    pub fn done(answer: impl Answer + 'static) -> Result<Flow<C>, Failure> {
        Ok(Flow::Done(Box::new(answer)))
    }

    pub fn wait(
        needs: Needs,
        then: impl FnOnce(&mut Ctx<'_, C>) -> Result<Flow<C>, Failure> + Send + 'static,
    ) -> Result<Flow<C>, Failure> {
        Ok(Flow::Await(needs, Continuation(Box::new(then))))
    }

    /// The flow as the pipeline keeps it, whatever the node's caller: a continuation
    /// carries its caller with it.
    pub fn erase(self, caller: C) -> Progress {
        match self {
            Flow::Done(answer) => Progress::Done(answer),
            Flow::Await(needs, then) => Progress::Await(
                needs,
                Resume::new(move |_: &Actor, view: &View<'_>, out: &mut Out| {
                    let flow = (then.0)(&mut Ctx::new(&caller, view, out))?;
                    Ok(flow.erase(caller))
                }),
            ),
        }
    }
}

impl<C> std::fmt::Debug for Flow<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flow::Done(_) => f.write_str("Done"),
            Flow::Await(needs, _) => write!(f, "Await({needs:?})"),
        }
    }
}

/// What a handler does once the server gave what it awaited. Runs at most once.
pub struct Continuation<C>(Box<Then<C>>);

/// The code of a continuation.
type Then<C> = dyn FnOnce(&mut Ctx<'_, C>) -> Result<Flow<C>, Failure> + Send;

/// A request's progress as the pipeline keeps it: a [`Flow`] with its caller erased.
pub enum Progress {
    Done(Box<dyn Answer>),
    Await(Needs, Resume),
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Done(_) => f.write_str("Done"),
            Progress::Await(needs, _) => write!(f, "Await({needs:?})"),
        }
    }
}

/// The next run of a request's handler: its first (which narrows the actor) or a
/// continuation. Runs at most once: it is consumed by [`Resume::run`].
pub struct Resume(Box<ResumeFn>);

type ResumeFn = dyn FnOnce(&Actor, &View<'_>, &mut Out) -> Result<Progress, Failure> + Send;

impl Resume {
    pub fn new(
        then: impl FnOnce(&Actor, &View<'_>, &mut Out) -> Result<Progress, Failure> + Send + 'static,
    ) -> Resume {
        Resume(Box::new(then))
    }

    pub fn run(self, actor: &Actor, view: &View<'_>, out: &mut Out) -> Result<Progress, Failure> {
        (self.0)(actor, view, out)
    }
}

/// What a request waits for from the server before it can go on.
#[derive(Debug, Default, PartialEq)]
pub struct Needs {
    /// This user's roster.
    pub roster: Option<UserId>,
    /// Pings confirming these users' resources that were not confirmed lately.
    pub checks: Vec<UserId>,
    /// A privileged IQ (XEP-0356 `iq` permission) on a user's behalf; its answer is in
    /// [`View::reply`] when the continuation resumes.
    pub iq: Option<PrivilegedIq>,
    /// A read of the database, where it is not on the core's thread; its answer is
    /// what [`View::fetch`] gives when the continuation resumes.
    pub read: Option<Box<Read>>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.roster.is_none() && self.checks.is_empty() && self.iq.is_none() && self.read.is_none()
    }

    /// A read of the database, and nothing else.
    pub fn read(read: Read) -> Needs {
        Needs {
            read: Some(Box::new(read)),
            ..Needs::default()
        }
    }
}

/// A read a request waited for, and its answer (`Err`: the read failed).
pub type FetchedRead = (Read, Result<Fetched, ()>);

/// A read of the database as a handler gets it: its answer, or the read to wait for.
#[derive(Debug)]
pub enum Got<T> {
    Ready(T),
    Wait(Read),
}

/// The value of a read, or a return of `Ok(Got::Wait(read))` from the function that
/// asked for it, for its caller to wait.
#[macro_export]
macro_rules! ready {
    ($got:expr) => {
        match $got? {
            $crate::commands::Got::Ready(value) => value,
            $crate::commands::Got::Wait(read) => return Ok($crate::commands::Got::Wait(read)),
        }
    };
}

/// The answer of a read (see [`View::fetch`]), or a return from the handler that waits
/// for it and goes on with `$again` (a continuation taking the handler's context) once
/// it is in.
#[macro_export]
macro_rules! fetched {
    ($got:expr, $again:expr) => {
        match $got? {
            $crate::commands::Got::Ready(value) => value,
            $crate::commands::Got::Wait(read) => {
                return $crate::commands::Flow::wait($crate::commands::Needs::read(read), $again)
            }
        }
    };
}

/// An IQ sent as a user, through the server's privilege.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivilegedIq {
    /// The user (bare JID) it is sent as, and to.
    pub user: BareJid,
    /// `get` or `set`.
    pub set: bool,
    pub payload: Element,
}

/// The answer to a [`PrivilegedIq`]: the user's IQ result, or why there is none.
pub type IqReply = Result<Element, Failure>;

/// What a handler has already waited for, which it carries into its continuation so
/// that it never waits for the same kind of thing without end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waited {
    pub roster: bool,
    /// Rounds of presence checks (one for the user, one for their peers).
    pub checks: u8,
}

impl Waited {
    pub const MAX_CHECK_ROUNDS: u8 = 2;

    pub fn may_fetch_roster(self) -> bool {
        !self.roster
    }

    pub fn may_check(self) -> bool {
        self.checks < Self::MAX_CHECK_ROUNDS
    }

    /// What has been waited for once `needs` came in.
    pub fn after(self, needs: &Needs) -> Waited {
        Waited {
            roster: self.roster || needs.roster.is_some(),
            checks: self.checks + u8::from(!needs.checks.is_empty()),
        }
    }
}

/// What a request puts out: the writes of its transaction, committed together, the
/// effects sent once they are, and the ids it drew. Kept across its continuations.
#[derive(Debug, Default)]
pub struct Out {
    writes: Vec<Write>,
    effects: Vec<Effect>,
    /// The next number of the id sequence when the request (re)started.
    pub id_base: u64,
    /// Ids drawn from the sequence by this request ([`Out::new_id`]).
    pub ids_drawn: u64,
}

impl Out {
    /// A write of the request's transaction.
    pub fn write(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// A stanza to send once the transaction is committed; one to a platform's news
    /// address is its news, written in the transaction instead ([`crate::news`]).
    pub fn send(&mut self, stanza: impl Into<Stanza>) {
        let stanza = stanza.into();
        match stanza.tree().and_then(crate::news::event) {
            Some(event) => self.writes.push(Write::News(event)),
            None => self.effects.push(Effect::Send(stanza)),
        }
    }

    /// Records that the answer tells the platform about `user`.
    pub fn disclose(&mut self, user: &str) {
        self.effects.push(Effect::Disclose(user.to_owned()));
    }

    /// A fresh id for a prompt or an invite, never given before.
    pub fn new_id(&mut self) -> String {
        let n = self.id_base + self.ids_drawn;
        self.ids_drawn += 1;
        crate::prompts::id(n)
    }

    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    pub fn take_writes(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.writes)
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}

/// Something to do once the request's writes are committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this stanza.
    Send(Stanza),
    /// The answer tells the platform about this user (bare JID): it is recorded, and if
    /// it cannot be, the answer is not sent.
    Disclose(String),
}

/// What the core keeps in memory of the database: a committed write changes it too.
pub struct Memory<'a> {
    pub consent: &'a mut Consent,
    pub self_status: &'a mut SelfStatuses,
    pub prompts: &'a mut Prompts,
    pub invites: &'a mut crate::invites::Book,
    pub mutes: &'a mut crate::invites::mutes::Mutes,
}

impl Memory<'_> {
    /// Brings the memory in line with `write`, just committed.
    pub fn apply(&mut self, write: Write) {
        self.invites.apply(&write);
        self.mutes.apply(&write);
        match write {
            Write::Meta { .. }
            | Write::Invite(_)
            | Write::InviteState { .. }
            | Write::Mute { .. }
            | Write::Audit(_)
            | Write::News(_) => {}
            Write::Consent(choice, _) => self.consent.apply(&choice),
            Write::SelfStatus { user, status } => self.self_status.apply(&user, status),
            Write::Prompt(prompt) => self.prompts.insert(prompt),
            Write::PromptAnswer { id, .. } => {
                self.prompts.remove(&id);
            }
        }
    }
}

/// What a handler may read: the core's state, read-only.
pub struct View<'a> {
    pub now: SystemTime,
    /// The component's own JID, which what it sends comes from.
    pub component: &'a BareJid,
    pub directory: &'a Directory,
    /// The database, read-only, where it is on the core's thread (`None`: it is
    /// across the network; read with [`View::fetch`]). Writes go into the request's
    /// [`Out`].
    pub store: Option<&'a dyn Reads>,
    /// The reads this request waited for, and their answers.
    pub fetched: &'a [FetchedRead],
    /// The database's schema version.
    pub schema_version: u32,
    pub health: &'a Health,
    pub registry: &'a Registry,
    pub consent: &'a Consent,
    pub self_status: &'a SelfStatuses,
    /// Disclosures not written yet.
    pub audit: &'a AuditLog,
    pub settings: &'a RightsConfig,
    /// Questions waiting for users' answers.
    pub prompts: &'a Prompts,
    /// Invites that may still change.
    pub invites: &'a crate::invites::Book,
    /// Who muted invitations from whom.
    pub mutes: &'a crate::invites::mutes::Mutes,
    /// Platforms outside the registry: who may ask, and who did.
    pub askers: &'a crate::rights::askers::Askers,
    /// Different for every request: seeds ids.
    pub seed: u64,
    /// When a continuation resumes after a [`PrivilegedIq`]: its answer.
    pub reply: Option<&'a IqReply>,
    /// The largest stanza the bridge sends; a result is cut to fit well within it.
    /// The privacy page's links, where it is served.
    pub page: Option<&'a crate::rights::page_link::PageLinks>,
    pub max_reply_bytes: usize,
}

impl View<'_> {
    /// A read of the database: its answer at once where the database is on the core's
    /// thread, or where this request waited for it already; otherwise the read to wait
    /// for (see [`fetched!`](crate::fetched)).
    pub fn fetch(&self, read: Read) -> Result<Got<Fetched>, Failure> {
        if let Some((_, answer)) = self.fetched.iter().find(|(asked, _)| *asked == read) {
            return answer
                .clone()
                .map(Got::Ready)
                .map_err(|()| Failure::internal());
        }
        match self.store {
            Some(store) => read.run(store).map(Got::Ready).map_err(|e| {
                tracing::error!(error = %e, "cannot read the database");
                Failure::internal()
            }),
            None => Ok(Got::Wait(read)),
        }
    }

    /// When each of `users` (bare JIDs) was last seen going offline, from the database:
    /// for users the directory has not seen leave since the component started.
    pub fn stored_last_seen(
        &self,
        users: Vec<String>,
    ) -> Result<Got<HashMap<String, u32>>, Failure> {
        let read = Read::LastSeen(users);
        Ok(match self.fetch(read.clone())? {
            Got::Ready(Fetched::Times(times)) => {
                let Read::LastSeen(users) = read else {
                    return Err(Failure::internal());
                };
                Got::Ready(
                    users
                        .into_iter()
                        .zip(times)
                        .filter_map(|(user, at)| Some((user, at?)))
                        .collect(),
                )
            }
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }

    /// A prompt, answered or not.
    pub fn stored_prompt(&self, id: &str) -> Result<Got<Option<PromptRecord>>, Failure> {
        Ok(match self.fetch(Read::Prompt(id.to_owned()))? {
            Got::Ready(Fetched::Prompt(prompt)) => Got::Ready(prompt),
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }

    /// An invite, whatever its state.
    pub fn stored_invite(&self, id: &str) -> Result<Got<Option<InviteRecord>>, Failure> {
        Ok(match self.fetch(Read::Invite(id.to_owned()))? {
            Got::Ready(Fetched::Invite(invite)) => Got::Ready(invite),
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }

    /// An invite's prompts, in the order they were made.
    pub fn stored_invite_prompts(&self, id: &str) -> Result<Got<Vec<PromptRecord>>, Failure> {
        Ok(match self.fetch(Read::InvitePrompts(id.to_owned()))? {
            Got::Ready(Fetched::Prompts(prompts)) => Got::Ready(prompts),
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }

    /// Disclosure records, newest first.
    pub fn stored_audit(&self, filter: AuditFilter) -> Result<Got<Vec<AuditRecord>>, Failure> {
        Ok(match self.fetch(Read::Audit(filter))? {
            Got::Ready(Fetched::Audit(records)) => Got::Ready(records),
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }

    /// When `user` last answered no to a `kind` prompt of `platform`, if since `since`.
    pub fn stored_refusal(
        &self,
        (user, platform, kind): (&str, &str, &str),
        since: u32,
    ) -> Result<Got<Option<u32>>, Failure> {
        let read = Read::RefusedSince {
            user: user.to_owned(),
            platform: platform.to_owned(),
            kind: kind.to_owned(),
            since,
        };
        Ok(match self.fetch(read)? {
            Got::Ready(Fetched::Time(at)) => Got::Ready(at),
            Got::Ready(_) => return Err(Failure::internal()),
            Got::Wait(read) => Got::Wait(read),
        })
    }
}

/// What a handler is given: its caller, narrowed to the type its node serves, the
/// read-only [`View`] (through `Deref`: `ctx.directory`), and its [`Out`].
pub struct Ctx<'a, C> {
    pub caller: &'a C,
    view: &'a View<'a>,
    pub out: &'a mut Out,
}

impl<'a, C> std::ops::Deref for Ctx<'a, C> {
    type Target = View<'a>;
    fn deref(&self) -> &View<'a> {
        self.view
    }
}

impl<'a, C> Ctx<'a, C> {
    pub fn new(caller: &'a C, view: &'a View<'a>, out: &'a mut Out) -> Ctx<'a, C> {
        Ctx { caller, view, out }
    }

    /// Records that the answer tells the platform about `user`.
    pub fn disclose(&mut self, user: &str) {
        self.out.disclose(user);
    }

    /// A fresh id for a prompt or an invite, never given before.
    pub fn new_id(&mut self) -> String {
        self.out.new_id()
    }
}

impl Ctx<'_, Platform> {
    /// Whether the asking platform may see `user` (a bare JID of a served domain).
    pub fn visible(&self, user: &str) -> bool {
        self.caller.sees(self.consent, user)
    }

    /// The rights the asking platform holds for `user`: for a user it may not see,
    /// what it would hold for a user it has never heard of.
    pub fn rights_for(&self, user: &str, remote: bool) -> Rights {
        let consenting = if remote {
            // Users of other servers are listed only where the operator allows it.
            true
        } else if self.visible(user) {
            true
        } else {
            self.consent.by_default()
        };
        self.rights_of(Subject { consenting, remote })
    }

    /// The rights the asking platform holds for a user who is `subject`.
    pub fn rights_of(&self, subject: Subject) -> Rights {
        policy::rights_for(self.caller, subject)
    }
}
