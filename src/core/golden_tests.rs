//! Golden replies: every node, both answer shapes and each kind of refusal, as the
//! platform and the user receive them, byte for byte. The script runs through the core
//! with a fake clock; the server's side (rosters, pings) is answered as a server would.
//! The recorded replies are in `golden/replies.txt`; `GOLDEN_UPDATE=1 cargo nextest run
//! golden` writes them anew, to be read and committed only when a change of behaviour
//! is meant.

use std::fmt::Write as _;
use std::time::SystemTime;

use minidom::Element;

use super::tests::{
    command, consent, core_with, link_up, presence, server_answer, t, xml, ADMIN, ALICE, PLATFORM,
};
use super::{Core, Input, Output};
use crate::config::ConsentPolicy;
use crate::store::Store;

const NS: &str = "jabber:component:accept";
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core/golden/replies.txt");

/// The recording: each step's label, then every stanza the core sent for it.
struct Recorder {
    core: Core,
    text: String,
    step: u64,
    /// The database as a storage worker holds it, when the core's is away, and the
    /// reads it was asked for.
    worker: Option<Store>,
    reads: Vec<crate::store::Read>,
}

impl Recorder {
    fn now(&self) -> SystemTime {
        t(100 + self.step)
    }

    /// Feeds `stanza`, answers what the core asks the server (rosters, pings) and
    /// records everything sent, in order.
    fn send(&mut self, label: &str, stanza: &str) -> Vec<Element> {
        self.step += 1;
        let now = self.now();
        let _ = writeln!(self.text, "## {label}");
        let mut all = Vec::new();
        let mut queue = vec![Input::Stanza(xml(stanza))];
        while let Some(input) = queue.pop() {
            let mut jobs = Vec::new();
            for output in self.core.handle(input, now) {
                let raw = match output {
                    Output::Send(raw) => raw,
                    Output::Store { ticket, job } => {
                        jobs.push((ticket, job));
                        continue;
                    }
                    _ => continue,
                };
                let _ = writeln!(self.text, "{raw}");
                let el = crate::wire::parse_stanza(&raw).unwrap();
                if let Some(reply) = server_answer(&el) {
                    queue.push(Input::Stanza(xml(&reply)));
                }
                all.push(el);
            }
            // The storage worker runs the jobs in order; their outcomes come back first.
            for (ticket, job) in jobs.into_iter().rev() {
                let worker = self
                    .worker
                    .as_mut()
                    .expect("a job while the database is here");
                let result = job.run(worker);
                if let crate::store::Job::Read(read) = &job {
                    self.reads.push(read.clone());
                }
                queue.push(Input::Stored(Box::new(super::storage::Stored {
                    ticket,
                    job,
                    result,
                })));
            }
        }
        all
    }

    fn command(
        &mut self,
        label: &str,
        from: &str,
        node: &str,
        fields: &[(&str, &[&str])],
    ) -> Vec<Element> {
        let stanza = format!(
            "<iq xmlns='{NS}' type='set' id='g{}' from='{from}' to='game.example.test'>{}</iq>",
            self.step + 1,
            command(node, fields)
        );
        self.send(label, &stanza)
    }

    /// The node executed without a form: its blank form, or its answer.
    fn blank(&mut self, label: &str, from: &str, node: &str) -> Vec<Element> {
        let stanza = format!(
            "<iq xmlns='{NS}' type='set' id='g{}' from='{from}' to='game.example.test'>\
             <command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'/></iq>",
            self.step + 1
        );
        self.send(label, &stanza)
    }

    fn say(&mut self, label: &str, user: &str, body: &str) -> Vec<Element> {
        let stanza = format!(
            "<message xmlns='{NS}' type='chat' id='m{}' from='{user}' to='game.example.test'><body>{body}</body></message>",
            self.step + 1
        );
        self.send(label, &stanza)
    }

    /// Both shapes of a platform's request.
    fn both(&mut self, label: &str, node: &str, fields: &[(&str, &[&str])]) {
        self.command(&format!("{label} (form)"), PLATFORM, node, fields);
        let mut compact = fields.to_vec();
        compact.push(("format", &["compact"]));
        self.command(&format!("{label} (compact)"), PLATFORM, node, &compact);
    }
}

/// A top-level field of the form in a command result or a message.
fn field(el: &Element, var: &str) -> Option<String> {
    el.children()
        .flat_map(|c| std::iter::once(c).chain(c.children()))
        .filter(|c| c.name() == "x")
        .flat_map(|x| x.children())
        .find(|f| f.name() == "field" && f.attr("var") == Some(var))
        .map(|f| f.children().map(|v| v.text()).collect::<Vec<_>>().join(","))
}

fn find_field(out: &[Element], var: &str) -> String {
    out.iter()
        .find_map(|el| field(el, var))
        .unwrap_or_else(|| panic!("no field {var} in {out:?}"))
}

fn bed() -> Recorder {
    let mut store = Store::open_in_memory().unwrap();
    for user in [
        "bob@example.test",
        "carol@example.test",
        "dave@example.test",
    ] {
        consent(&mut store, user, None, true);
    }
    let mut core = core_with(store, |c| {
        c.consent = ConsentPolicy::OptIn;
        c.platforms[0].launch_schemes = vec!["steam".to_owned()];
        c.platforms.push(crate::admin::NewPlatform {
            authorized: false,
            ..crate::admin::NewPlatform::authorized("puzzle@example.test")
        });
        c.platforms.push(crate::admin::NewPlatform {
            answers: Some("compact".to_owned()),
            ..crate::admin::NewPlatform::authorized("arcade@example.test")
        });
    });
    link_up(&mut core);
    presence(&mut core, "dave", Some("chat"), t(5));
    Recorder {
        core,
        worker: None,
        reads: Vec::new(),
        text: String::new(),
        step: 0,
    }
}

const BOB: &str = "bob@example.test/pc";
const STRANGER: &str = "eve@elsewhere.test/x";
const PUZZLE: &str = "puzzle@example.test/bot";
const ARCADE: &str = "arcade@example.test/bot";

fn script(r: &mut Recorder) {
    // Reading: peers and status, both shapes, and the platform's default shape.
    r.blank("peers: the blank form", PLATFORM, "peers");
    r.both("peers of bob", "peers", &[("jid", &["bob@example.test"])]);
    r.both(
        "peers of alice, who shares with nobody",
        "peers",
        &[("jid", &["alice@example.test"])],
    );
    r.both(
        "peers of someone unknown",
        "peers",
        &[("jid", &["zed@example.test"])],
    );
    r.command(
        "peers, a platform answered compact by default",
        ARCADE,
        "peers",
        &[("jid", &["bob@example.test"])],
    );
    r.blank("status: the blank form", PLATFORM, "status");
    r.both(
        "status of four",
        "status",
        &[(
            "jids",
            &[
                "bob@example.test",
                "carol@example.test",
                "alice@example.test",
                "rob@other.example",
            ],
        )],
    );

    // Executable rights.
    r.both(
        "open-url",
        "open-url",
        &[
            ("jid", &["bob@example.test"]),
            ("url", &["https://play.example.test/r/1"]),
            ("text", &["Your replay"]),
        ],
    );
    r.both(
        "send-message",
        "send-message",
        &[
            ("jid", &["bob@example.test"]),
            ("text", &["Your match starts soon"]),
        ],
    );
    r.both(
        "set-status",
        "set-status",
        &[("jid", &["bob@example.test"]), ("status", &["In a match"])],
    );
    r.both(
        "attention",
        "attention",
        &[("jid", &["carol@example.test"]), ("reason", &["Your turn"])],
    );
    r.both(
        "launch",
        "launch",
        &[
            ("jid", &["bob@example.test"]),
            ("uri", &["steam://run/42"]),
            ("text", &["Start"]),
        ],
    );
    r.both(
        "publish-gaming",
        "publish-gaming",
        &[("jid", &["bob@example.test"]), ("game", &["Chess"])],
    );
    r.both(
        "request-consent",
        "request-consent",
        &[
            ("jid", &["alice@example.test"]),
            ("reason", &["To find your friends"]),
        ],
    );
    r.command(
        "send-message to someone offline",
        PLATFORM,
        "send-message",
        &[("jid", &["dave@example.test"]), ("text", &["hi"])],
    );

    // An invite, its answers and its end.
    r.blank("invite: the blank form", PLATFORM, "invite");
    let out = r.command(
        "invite",
        PLATFORM,
        "invite",
        &[
            ("host", &["bob@example.test"]),
            ("invitees", &["carol@example.test", "dave@example.test"]),
            ("game", &["Chess"]),
            ("session", &["s-1"]),
            ("join", &["https://play.example.test/j/1"]),
            ("expiry", &["600"]),
        ],
    );
    let invite = find_field(&out, "invite");
    let carols = out
        .iter()
        .filter(|el| el.name() == "message" && el.attr("to") == Some("carol@example.test"))
        .find_map(|el| field(el, "prompt"))
        .unwrap();
    r.both("invite-status", "invite-status", &[("invite", &[&invite])]);
    r.both(
        "pending of carol",
        "pending",
        &[("jid", &["carol@example.test"])],
    );
    r.blank(
        "invitations: carol's list",
        "carol@example.test/pc",
        "invitations",
    );
    r.say(
        "carol accepts in words",
        "carol@example.test/pc",
        &format!("accept {carols}"),
    );
    r.both(
        "answer for dave by the platform",
        "answer",
        &[
            ("invite", &[&invite]),
            ("jid", &["dave@example.test"]),
            ("answer", &["decline"]),
        ],
    );
    r.both(
        "invite-status once answered",
        "invite-status",
        &[("invite", &[&invite])],
    );
    r.command(
        "session-started",
        PLATFORM,
        "session-started",
        &[("invite", &[&invite])],
    );
    r.command(
        "session-ended",
        PLATFORM,
        "session-ended",
        &[("invite", &[&invite])],
    );
    let out = r.command(
        "a second invite",
        PLATFORM,
        "invite",
        &[
            ("host", &["bob@example.test"]),
            ("invitees", &["carol@example.test"]),
            ("game", &["Go"]),
            ("session", &["s-2"]),
        ],
    );
    let second = find_field(&out, "invite");
    r.both("invite-cancel", "invite-cancel", &[("invite", &[&second])]);

    // A user's own nodes, as commands and as words.
    r.blank("my-status: the blank form", BOB, "my-status");
    r.command(
        "my-status set",
        BOB,
        "my-status",
        &[("status", &["Back at 8"])],
    );
    r.blank("privacy: the blank form", BOB, "privacy");
    r.command(
        "privacy: stop sharing with others",
        BOB,
        "privacy",
        &[("share", &["none"])],
    );
    r.blank("mute: the blank form", BOB, "mute");
    r.command(
        "mute a host",
        BOB,
        "mute",
        &[("host", &["carol@example.test"]), ("mute", &["true"])],
    );
    r.say("help", ALICE, "help");
    r.say("status in words", ALICE, "status");
    r.say("privacy in words", ALICE, "privacy");
    r.say("an unknown word", ALICE, "dance");
    r.say("a word from a stranger", STRANGER, "help");

    // The operator.
    r.command("stats", ADMIN, "stats", &[]);

    // Refusals.
    r.command(
        "peers by a user",
        BOB,
        "peers",
        &[("jid", &["carol@example.test"])],
    );
    r.command(
        "peers by a stranger",
        STRANGER,
        "peers",
        &[("jid", &["carol@example.test"])],
    );
    r.command("stats by a platform", PLATFORM, "stats", &[]);
    r.command("my-status by a platform", PLATFORM, "my-status", &[]);
    r.command(
        "invite by an unauthorized platform",
        PUZZLE,
        "invite",
        &[
            ("host", &["bob@example.test"]),
            ("game", &["Go"]),
            ("session", &["s"]),
        ],
    );
    r.command(
        "open-url by an unauthorized platform",
        PUZZLE,
        "open-url",
        &[
            ("jid", &["bob@example.test"]),
            ("url", &["https://x.example"]),
        ],
    );
    r.command("peers without its field", PLATFORM, "peers", &[]);
    r.command(
        "peers of another server",
        PLATFORM,
        "peers",
        &[("jid", &["rob@other.example"])],
    );
    r.command(
        "peers in an unknown format",
        PLATFORM,
        "peers",
        &[("jid", &["bob@example.test"]), ("format", &["yaml"])],
    );
    r.command(
        "open-url with a script",
        PLATFORM,
        "open-url",
        &[
            ("jid", &["bob@example.test"]),
            ("url", &["javascript:alert(1)"]),
        ],
    );
    r.command(
        "set-status for someone who does not share",
        PLATFORM,
        "set-status",
        &[("jid", &["alice@example.test"]), ("status", &["x"])],
    );
    r.command(
        "invite-status of no invite",
        PLATFORM,
        "invite-status",
        &[("invite", &["nope"])],
    );
    r.command("an unknown node", PLATFORM, "no-such-node", &[]);
    r.send(
        "a command with a bad action",
        &format!("<iq xmlns='{NS}' type='set' id='gx' from='{PLATFORM}' to='game.example.test'><command xmlns='http://jabber.org/protocol/commands' node='peers' action='dance'/></iq>"),
    );
    r.send(
        "a command with an unknown session",
        &format!("<iq xmlns='{NS}' type='set' id='gy' from='{PLATFORM}' to='game.example.test'><command xmlns='http://jabber.org/protocol/commands' node='peers' sessionid='nope' action='complete'/></iq>"),
    );
    let out = r.blank("peers in two steps: the form", PLATFORM, "peers");
    let session = out[0]
        .get_child("command", "http://jabber.org/protocol/commands")
        .and_then(|c| c.attr("sessionid"))
        .unwrap()
        .to_owned();
    r.send(
        "peers in two steps: completed",
        &format!("<iq xmlns='{NS}' type='set' id='gz' from='{PLATFORM}' to='game.example.test'><command xmlns='http://jabber.org/protocol/commands' node='peers' sessionid='{session}' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='jid'><value>bob@example.test</value></field></x></command></iq>"),
    );
    let out = r.blank("status in two steps: the form", PLATFORM, "status");
    let session = out[0]
        .get_child("command", "http://jabber.org/protocol/commands")
        .and_then(|c| c.attr("sessionid"))
        .unwrap()
        .to_owned();
    r.send(
        "status in two steps: canceled",
        &format!("<iq xmlns='{NS}' type='set' id='gw' from='{PLATFORM}' to='game.example.test'><command xmlns='http://jabber.org/protocol/commands' node='status' sessionid='{session}' action='cancel'/></iq>"),
    );
}

#[test]
fn golden_replies_are_unchanged() {
    let mut recorder = bed();
    script(&mut recorder);
    let actual = recorder.text;
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(GOLDEN, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap();
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(actual.lines().count().min(expected.lines().count()));
        let _ = std::fs::write("target/golden-actual.txt", &actual);
        panic!(
            "the replies differ from {GOLDEN} at line {}:\nnow:    {}\nbefore: {}\n(all of them in target/golden-actual.txt)",
            first + 1,
            actual.lines().nth(first).unwrap_or("(nothing)"),
            expected.lines().nth(first).unwrap_or("(nothing)")
        );
    }
}

/// With the database away (as PostgreSQL is: every write and read a job for the storage
/// worker, whose outcome comes back as an input), the same script gets the same replies,
/// byte for byte; only the operator's statistics count the jobs.
#[test]
fn golden_replies_are_the_same_with_the_database_away() {
    let mut recorder = bed();
    recorder.worker = recorder.core.send_store_away();
    assert!(recorder.worker.is_some());
    script(&mut recorder);
    let expected = std::fs::read_to_string(GOLDEN).unwrap();
    assert_eq!(recorder.text.lines().count(), expected.lines().count());
    let mut compared = 0;
    for (n, (away, here)) in recorder.text.lines().zip(expected.lines()).enumerate() {
        if here.contains("node='stats'") {
            assert!(away.contains("<field var='storage-jobs' type='text-single' label='Database jobs sent to the storage worker (PostgreSQL)'><value>"));
            assert!(
                !away.contains("Database jobs sent to the storage worker (PostgreSQL)'><value>0<"),
                "{away}"
            );
            continue;
        }
        assert_eq!(away, here, "line {}", n + 1);
        compared += 1;
    }
    assert!(compared > 100, "{compared}");
    // The handlers that read the database waited for it, and were answered as before.
    let kinds: std::collections::BTreeSet<&str> = recorder
        .reads
        .iter()
        .map(|read| match read {
            crate::store::Read::LastSeen(_) => "last seen",
            crate::store::Read::Prompt(_) => "prompt",
            crate::store::Read::Invite(_) => "invite",
            crate::store::Read::InvitePrompts(_) => "invite prompts",
            crate::store::Read::RefusedSince { .. } => "refusal",
            crate::store::Read::Audit(_) => "audit",
        })
        .collect();
    assert_eq!(
        kinds,
        ["audit", "invite", "invite prompts", "refusal"].into(),
        "{:?}",
        recorder.reads
    );
}

/// Every field and column the golden run's answers wrote is declared by the node (or
/// the news form) whose FORM_TYPE it is: the OpenAPI document and the forms reference
/// describe what is sent.
#[test]
fn answers_write_only_what_their_nodes_declare() {
    let _ = crate::commands::render::written::take();
    let mut recorder = bed();
    script(&mut recorder);
    let written = crate::commands::render::written::take();
    let declared = |form_type: &str| -> Option<Vec<&'static str>> {
        let mut forms: Vec<crate::commands::doc::AnswerDoc> = crate::commands::NODES
            .iter()
            .filter_map(|def| def.doc.map(|d| d.answer))
            .collect();
        forms.extend(crate::commands::doc::NEWS_FORMS.iter().map(|f| f.form));
        let matching: Vec<_> = forms.iter().filter(|f| f.form_type == form_type).collect();
        (!matching.is_empty()).then(|| {
            matching
                .iter()
                .flat_map(|f| f.fields.iter().chain(f.columns))
                .map(|s| s.var)
                .collect()
        })
    };
    let mut checked = std::collections::BTreeSet::new();
    for (form_type, var) in &written {
        if let Some(vars) = declared(form_type) {
            assert!(
                vars.contains(&var.as_str()),
                "{form_type} writes {var}, which its node does not declare"
            );
            checked.insert(form_type.clone());
        }
    }
    // The run covers the platform's commands.
    for form_type in [
        "urn:xmpp-game-bridge:peers:1",
        "urn:xmpp-game-bridge:status:1",
        "urn:xmpp-game-bridge:right:1",
        "urn:xmpp-game-bridge:invite-created:1",
    ] {
        assert!(
            checked.contains(form_type),
            "the golden run wrote no {form_type}: {checked:?}"
        );
    }
}
