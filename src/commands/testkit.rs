//! A node's test bench: the read-only view a handler is given, built by hand (a served
//! domain `example.test` whose server granted the roster, message and presence
//! privileges, consent `opt-out`, the database a [`Fake`]), and one run of one node with
//! its reply, writes and effects. A node's tests use it in the node's own file; the
//! pipeline, sessions, commits and continuations are tested through the core.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use minidom::Element;
use xmpp_parsers::jid::{BareJid, Jid};

use super::render::{self, Answer, Reply};
use super::{Ctx, Effect, Flow, Needs, Node, Out, RightsConfig, View, Write};
use crate::directory::presence::{Availability, PresenceUpdate, StatusTexts};
use crate::directory::self_status::SelfStatuses;
use crate::directory::{unix_secs, Directory, DirectoryConfig};
use crate::failure::Failure;
use crate::health::Health;
use crate::invites::mutes::Mutes;
use crate::invites::Book;
use crate::prompts::Prompts;
use crate::rights::askers::Askers;
use crate::rights::audit::AuditLog;
use crate::rights::consent::Consent;
use crate::rights::consent::ConsentPolicy;
use crate::rights::platforms::{Profile, Registry, Shape};
use crate::rights::{Platform, User, Via};
use crate::store::reads::Fake;
use crate::wire::Xml;
use crate::xep::forms::{DataForm, Field, FormType};

/// What a handler reads, owned by the test.
pub(crate) struct Bench {
    pub now: SystemTime,
    pub component: BareJid,
    pub directory: Directory,
    pub store: Fake,
    pub health: Health,
    pub registry: Registry,
    pub consent: Consent,
    pub self_status: SelfStatuses,
    pub audit: AuditLog,
    pub settings: RightsConfig,
    pub prompts: Prompts,
    pub invites: Book,
    pub mutes: Mutes,
    pub askers: Askers,
}

/// The bare JID of `name` on the served domain.
pub(crate) fn jid(name: &str) -> String {
    format!("{name}@example.test")
}

impl Bench {
    pub fn new() -> Bench {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let served = BareJid::from_str("example.test").unwrap();
        let mut directory = Directory::new(DirectoryConfig::default(), &[served]);
        directory.link_up();
        let advert: Element = "<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
            <perm access='message' type='outgoing'/><perm access='presence' type='roster'/></privilege>"
            .parse()
            .unwrap();
        directory.domain_mut("example.test").unwrap().privilege =
            Some(crate::xep::privilege::Privilege::try_from(&advert).unwrap());
        directory.replay_done("example.test", unix_secs(now));
        Bench {
            now,
            component: BareJid::from_str("game.example.test").unwrap(),
            directory,
            store: Fake::default(),
            health: Health::new(now),
            registry: Registry::default(),
            consent: Consent::new(ConsentPolicy::OptOut),
            self_status: SelfStatuses::default(),
            audit: AuditLog::default(),
            settings: RightsConfig::default(),
            prompts: Prompts::default(),
            invites: Book::default(),
            mutes: Mutes::default(),
            askers: Askers::default(),
        }
    }

    /// bob, carol and dave online and in each other's rosters: a host and two friends.
    pub fn friends() -> Bench {
        let mut bench = Bench::new();
        for user in ["bob", "carol", "dave"] {
            bench.online(user, Availability::Chat, None);
        }
        bench.roster("bob", &["carol", "dave"]);
        bench.roster("carol", &["bob", "dave"]);
        bench.roster("dave", &["bob", "carol"]);
        bench
    }

    /// `name` comes online from one device, `availability` with `status`.
    pub fn online(&mut self, name: &str, availability: Availability, status: Option<&str>) {
        let update = PresenceUpdate::Available {
            availability,
            priority: 0,
            status: status.map_or(StatusTexts::None, |s| StatusTexts::Plain(s.into())),
        };
        let now = unix_secs(self.now);
        self.directory.apply(&jid(name), "pc", update, now);
    }

    /// `name`'s roster, fetched now: each of `contacts` mutually.
    pub fn roster(&mut self, name: &str, contacts: &[&str]) {
        let user = self.directory.intern(&jid(name));
        let mutual = contacts
            .iter()
            .map(|c| self.directory.intern(&jid(c)))
            .collect();
        let now = unix_secs(self.now);
        self.directory.rosters.insert(user, mutual, now);
    }

    /// What the pipeline does once a run's writes are committed: the database and the
    /// memory brought in line with them.
    pub fn commit(&mut self, ran: &Ran) {
        for write in ran.writes() {
            match write {
                Write::Prompt(prompt) => self.store.prompts.push(prompt.clone()),
                Write::PromptAnswer {
                    id,
                    answer,
                    at,
                    how,
                } => {
                    if let Some(stored) = self.store.prompts.iter_mut().find(|p| p.id == *id) {
                        stored.answer = Some((*answer).to_owned());
                        stored.answered_at = Some(*at);
                        stored.how = how.map(str::to_owned);
                    }
                }
                Write::Invite(record) => self.store.invites.push(record.clone()),
                Write::InviteState { id, state, at } => {
                    if let Some(stored) = self.store.invites.iter_mut().find(|i| i.id == *id) {
                        stored.state = crate::store::InviteState::parse(state).unwrap();
                        stored.changed_at = *at;
                    }
                }
                _ => {}
            }
            let mut memory = super::Memory {
                consent: &mut self.consent,
                self_status: &mut self.self_status,
                prompts: &mut self.prompts,
                invites: &mut self.invites,
                mutes: &mut self.mutes,
            };
            memory.apply(write.clone());
        }
    }

    /// The time moves on.
    pub fn later(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    pub fn view(&self) -> View<'_> {
        View {
            now: self.now,
            component: &self.component,
            directory: &self.directory,
            store: Some(&self.store),
            fetched: &[],
            schema_version: crate::store::SCHEMA_VERSION,
            health: &self.health,
            registry: &self.registry,
            consent: &self.consent,
            self_status: &self.self_status,
            audit: &self.audit,
            settings: &self.settings,
            prompts: &self.prompts,
            invites: &self.invites,
            mutes: &self.mutes,
            askers: &self.askers,
            seed: 7,
            page: None,
            reply: None,
            max_reply_bytes: 256 * 1024,
        }
    }

    /// The authorized platform `game@example.test/engine`, with the default rights.
    pub fn platform(&self) -> Platform {
        let jid = Jid::from_str("game@example.test/engine").unwrap();
        Platform {
            id: jid.to_bare(),
            jid,
            via: Via::Registry,
            authorized: true,
            profile: Arc::new(Profile::unregistered("game", true)),
        }
    }

    /// `name` of the served domain, from their chat client.
    pub fn user(&self, name: &str) -> User {
        User {
            jid: Jid::from_str(&format!("{}/pc", jid(name))).unwrap(),
        }
    }

    /// `N` run by `caller` with a submitted form of `fields`.
    pub fn run<N: Node>(&self, caller: &N::Caller, fields: &[(&str, &[&str])]) -> Ran {
        let mut form = DataForm::new(FormType::Submit, None);
        for (var, values) in fields {
            form.push_field(Field {
                var: Some((*var).to_owned()),
                values: values.iter().map(|v| (*v).to_owned()).collect(),
                ..Field::default()
            });
        }
        let mut out = Out::default();
        let flow = N::Query::try_from(&form)
            .and_then(|query| N::run(query, &mut Ctx::new(caller, &self.view(), &mut out)));
        Ran::new::<N>(flow, out)
    }

    /// `N` run by `caller` from a chat message: `word` and what follows it.
    pub fn say<N: Node>(&self, caller: &N::Caller, word: &str, rest: &str) -> Ran {
        let mut out = Out::default();
        let flow = N::words(word, rest)
            .and_then(|query| N::run(query, &mut Ctx::new(caller, &self.view(), &mut out)));
        Ran::new::<N>(flow, out)
    }

    /// `N`'s blank form for `caller`.
    pub fn blank<N: Node>(&self, caller: &N::Caller) -> Option<DataForm> {
        let mut out = Out::default();
        N::form(&Ctx::new(caller, &self.view(), &mut out))
    }
}

/// What a node did: its reply (or its refusal, or what it waits for), the writes of its
/// transaction and its effects.
pub(crate) struct Ran {
    pub node: &'static str,
    pub answer: Result<Box<dyn Answer>, Failure>,
    pub needs: Option<Needs>,
    pub out: Out,
}

impl Ran {
    fn new<N: Node>(flow: Result<Flow<N::Caller>, Failure>, out: Out) -> Ran {
        let (answer, needs) = match flow {
            Ok(Flow::Done(answer)) => (Ok(answer), None),
            Ok(Flow::Await(needs, _)) => (Err(Failure::internal()), Some(needs)),
            Err(failure) => (Err(failure), None),
        };
        Ran {
            node: N::NODE,
            answer,
            needs,
            out,
        }
    }

    fn answer(&self) -> &dyn Answer {
        match &self.answer {
            Ok(answer) => &**answer,
            Err(failure) => panic!("{} refused: {failure:?}", self.node),
        }
    }

    /// The refusal.
    pub fn failure(&self) -> &Failure {
        match &self.answer {
            Ok(_) => panic!("{} answered: {}", self.node, self.summary()),
            Err(failure) => failure,
        }
    }

    /// The command result as the platform receives it, in `shape`.
    pub fn reply(&self, shape: Shape) -> Element {
        self.reply_in(shape, crate::strings::Lang::En)
    }

    /// The command result with its title and labels in `lang`, as a user receives it.
    pub fn reply_in(&self, shape: Shape, lang: crate::strings::Lang) -> Element {
        let mut bytes = Vec::new();
        let reply = Reply {
            id: "t1",
            from: "game.example.test",
            to: "game@example.test/engine",
            lang,
        };
        let answer = self.answer();
        render::completed(
            &mut Xml::new(&mut bytes),
            reply,
            self.node,
            "s1",
            answer,
            shape,
            256 * 1024,
        );
        let text = String::from_utf8(bytes).unwrap();
        crate::wire::parse_stanza(&text).unwrap()
    }

    /// The summary a chat client shows first.
    pub fn summary(&self) -> String {
        render::text(self.answer())
    }

    /// The values of a top-level field of the result form.
    pub fn field(&self, var: &str) -> Vec<String> {
        form_of(&self.reply(Shape::Form))
            .children()
            .filter(|c| c.name() == "field" && c.attr("var") == Some(var))
            .flat_map(|f| f.children().map(|v| v.text()))
            .collect()
    }

    /// The result form's table: for each row, its cells by column.
    pub fn rows(&self) -> Vec<Vec<(String, String)>> {
        form_of(&self.reply(Shape::Form))
            .children()
            .filter(|c| c.name() == "item")
            .map(|item| {
                item.children()
                    .map(|f| {
                        let value = f.children().map(|v| v.text()).collect::<Vec<_>>();
                        (f.attr("var").unwrap_or("").to_owned(), value.join("\n"))
                    })
                    .collect()
            })
            .collect()
    }

    /// The compact answer's root element.
    pub fn compact(&self) -> Element {
        let reply = self.reply(Shape::Compact);
        let command = reply
            .get_child("command", crate::xep::commands::NS)
            .unwrap();
        command
            .children()
            .find(|c| c.ns() == render::COMPACT_NS)
            .unwrap_or_else(|| panic!("no compact answer in {}", String::from(&reply)))
            .clone()
    }

    pub fn writes(&self) -> &[Write] {
        self.out.writes()
    }

    /// The stanzas sent once the writes are committed.
    pub fn sent(&self) -> Vec<Element> {
        self.out
            .effects()
            .iter()
            .filter_map(|e| match e {
                Effect::Send(stanza) => Some(stanza.to_element().expect("well-formed")),
                Effect::Disclose(_) => None,
            })
            .collect()
    }

    /// The users the answer tells the platform about.
    pub fn disclosed(&self) -> Vec<&str> {
        self.out
            .effects()
            .iter()
            .filter_map(|e| match e {
                Effect::Disclose(user) => Some(user.as_str()),
                Effect::Send(_) => None,
            })
            .collect()
    }
}

fn form_of(reply: &Element) -> Element {
    reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", crate::xep::forms::NS))
        .unwrap_or_else(|| panic!("no form in {}", String::from(reply)))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::fields::{blank_form, Spec};
    use crate::commands::render::ResultWriter;
    use crate::rights::Platform;

    // A node, whole: its fields, its query, its answer, its handler. Registering it is
    // one line in `NODES` (and `pub mod` for its file); this one lives in its test.
    struct Greet;

    const WHO: Spec = Spec::jid("jid", "User")
        .required()
        .purpose("the user to greet");
    const GREETING: Spec = Spec::text("greeting", "Greeting");

    struct GreetQuery(String);

    impl TryFrom<&DataForm> for GreetQuery {
        type Error = Failure;
        fn try_from(form: &DataForm) -> Result<GreetQuery, Failure> {
            Ok(GreetQuery(WHO.require(form)?.to_owned()))
        }
    }

    struct Greeted(String);

    impl Answer for Greeted {
        fn write(&self, out: &mut ResultWriter<'_, '_>) {
            out.begin("urn:example:greet", "Greeting");
            out.field(&GREETING, &self.0);
        }
        fn summary(&self) -> String {
            self.0.clone()
        }
    }

    impl Node for Greet {
        const NODE: &'static str = "greet";
        const NAME: &'static str = "Greet a user";
        type Caller = Platform;
        type Query = GreetQuery;

        fn form(_: &Ctx<'_, Platform>) -> Option<DataForm> {
            Some(blank_form("urn:example:greet", "Greet", "Whom?", &[WHO]))
        }

        fn run(query: GreetQuery, ctx: &mut Ctx<'_, Platform>) -> Result<Flow<Platform>, Failure> {
            if !ctx.visible(&query.0) {
                return Err(Failure::item_not_found("no such user"));
            }
            ctx.disclose(&query.0);
            Flow::done(Greeted(format!(
                "{} greets {}",
                ctx.caller.profile.name, query.0
            )))
        }
    }

    #[test]
    fn an_example_node_declared_and_tested_in_one_place() {
        let mut bench = Bench::new();
        let game = bench.platform();
        let ran = bench.run::<Greet>(&game, &[("jid", &["bob@example.test"])]);
        assert_eq!(ran.field("greeting"), ["game greets bob@example.test"]);
        assert_eq!(ran.disclosed(), ["bob@example.test"]);
        let blank = bench.blank::<Greet>(&game).unwrap();
        assert!(blank.field("jid").unwrap().required);
        let missing = bench.run::<Greet>(&game, &[]);
        assert_eq!(
            missing.failure().text,
            "the form needs the field \"jid\": the user to greet"
        );
        // A user who said no looks like nobody.
        bench.consent = Consent::new(ConsentPolicy::OptIn);
        let hidden = bench.run::<Greet>(&game, &[("jid", &["bob@example.test"])]);
        assert_eq!(hidden.failure().text, "no such user");
        assert!(hidden.disclosed().is_empty());
    }
}
