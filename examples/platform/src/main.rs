//! A small game platform, as a game developer would write one: it logs in to the chat
//! server as its bot account, asks xmpp-game-bridge who a player is chatting with,
//! invites them to a game, prints every piece of news the bridge sends, and starts a
//! multiplayer session when someone joins (`ready`) or a single-player one when nobody
//! does (`solo`).
//!
//! ```sh
//! game-platform-example --server 127.0.0.1:5222 --jid arcade@example.test \
//!     --password arcade-pw --bridge game.example.test
//! ```
//!
//! Then, one per line on standard input:
//!
//! - `peers <player>`: who the player is chatting with right now;
//! - `invite <host> <game>`: invites the host's active peers, and waits for the outcome;
//! - `over`: the games being played end (the bridge clears what it published);
//! - `quit`.
//!
//! Everything the bridge says is a data form: a field's value is read by its `var`.
//! A refusal (an IQ error: a user the platform may not see, a rate passed, …) is printed
//! with the bridge's text and the platform goes on; only a lost connection ends it.
//! With `PLATFORM_DEBUG` set, every incoming event is printed to standard error.

use std::collections::HashMap;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::rxml::xml_ncname;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event, IqRequest, IqResponse, Stanza};

const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const NS_DATA: &str = "jabber:x:data";
/// The bridge's news about an invite: an answer, or a change of outcome.
const INVITE_NEWS: &str = "urn:xmpp-game-bridge:invite:1";

/// Why a command gave no result.
enum Failed {
    /// The bridge refused it, or did not answer in time: say so, and go on.
    Refused(String),
    /// The connection is gone: stop.
    Lost(String),
}

impl From<String> for Failed {
    fn from(e: String) -> Failed {
        Failed::Lost(e)
    }
}

/// What a game does with a refusal: tells its operator, and carries on.
fn carry_on<T>(result: Result<T, Failed>) -> Result<Option<T>, String> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Failed::Refused(why)) => {
            println!("refused: {why}");
            Ok(None)
        }
        Err(Failed::Lost(e)) => Err(e),
    }
}

/// The platform's connection: the XMPP client, the bridge's address, and the news that
/// came while a command waited for its answer (a platform never stops reading: a
/// client that does not take its incoming stanzas stalls its own IQ answers behind them).
struct Link {
    client: Client,
    bridge: Jid,
    news: std::collections::VecDeque<Element>,
}

struct Options {
    server: String,
    jid: String,
    password: String,
    bridge: String,
}

// One thread is all a platform's bot needs. (On tokio's multi-thread runtime we saw
// tokio-xmpp 6's client stop handing over incoming stanzas now and then, under load.)
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}\nusage: game-platform-example --server HOST:PORT --jid JID --password PASSWORD --bridge COMPONENT-JID");
            return ExitCode::FAILURE;
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("platform: {e}");
            ExitCode::FAILURE
        }
    }
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut found: HashMap<String, String> = HashMap::new();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        found.insert(flag.trim_start_matches('-').to_owned(), value);
    }
    let mut take = |name: &str| found.remove(name).ok_or(format!("--{name} is missing"));
    Ok(Options {
        server: take("server")?,
        jid: take("jid")?,
        password: take("password")?,
        bridge: take("bridge")?,
    })
}

async fn run(options: Options) -> Result<(), String> {
    let jid = BareJid::from_str(&options.jid).map_err(|e| e.to_string())?;
    let bridge = Jid::from_str(&options.bridge).map_err(|e| e.to_string())?;
    let mut client = Client::new_plaintext(
        jid,
        options.password,
        DnsConfig::Addr {
            addr: options.server,
        },
        Timeouts::tight(),
    );
    // Wait until logged in.
    loop {
        match client.next().await {
            Some(Event::Online { bound_jid, .. }) => {
                println!("logged in as {bound_jid}");
                break;
            }
            Some(Event::Disconnected(e)) => return Err(format!("cannot log in: {e}")),
            Some(_) => {}
            None => return Err("the connection closed".to_owned()),
        }
    }
    // The bridge only sends news to a platform that is online.
    client
        .send_stanza(Stanza::Presence(
            tokio_xmpp::parsers::presence::Presence::available(),
        ))
        .await
        .map_err(|e| e.to_string())?;

    let mut link = Link {
        client,
        bridge,
        news: Default::default(),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Invites waiting for their outcome: invite id → (host, game).
    let mut waiting: HashMap<String, (String, String)> = HashMap::new();
    // Invites whose game is being played.
    let mut playing: Vec<String> = Vec::new();
    loop {
        // News that came while a command waited.
        while let Some(news) = link.news.pop_front() {
            if let Some(Some(started)) = carry_on(on_news(&mut link, &news, &mut waiting).await)? {
                playing.push(started);
            }
        }
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["peers", player] => {
                        carry_on(peers(&mut link, player).await)?;
                    }
                    ["invite", host, game] => {
                        let Some(peers) = carry_on(peers(&mut link, host).await)? else {
                            continue;
                        };
                        if peers.is_empty() {
                            println!("{host} is chatting with nobody: starting a single-player game of {game}");
                            continue;
                        }
                        if let Some(Some(id)) = carry_on(invite(&mut link, host, game).await)? {
                            waiting.insert(id, (host.to_string(), game.to_string()));
                        }
                    }
                    ["over"] => {
                        for id in playing.drain(..) {
                            let ended = link.command("session-ended", &[("invite", &id)]).await;
                            if carry_on(ended)?.is_some() {
                                println!("game over: the session of invite {id} ended");
                            }
                        }
                    }
                    ["quit"] => break,
                    [] => {}
                    _ => println!("commands: peers <player> | invite <host> <game> | over | quit"),
                }
            }
            event = link.client.next() => link.take(event)?,
        }
    }
    link.client.send_end().await.map_err(|e| e.to_string())?;
    Ok(())
}

impl Link {
    /// Keeps the bridge's news from an incoming event.
    fn take(&mut self, event: Option<Event>) -> Result<(), String> {
        if std::env::var_os("PLATFORM_DEBUG").is_some() {
            eprintln!("platform event: {event:?}");
        }
        match event {
            Some(Event::Stanza(Stanza::Message(message))) => {
                let message: Element = message.into();
                if let Some(news) = form_of_type(&message, INVITE_NEWS) {
                    self.news.push_back(news);
                }
                Ok(())
            }
            Some(Event::Disconnected(e)) => Err(format!("disconnected: {e}")),
            None => Err("the connection closed".to_owned()),
            Some(_) => Ok(()),
        }
    }

    /// Runs an ad-hoc command in one step with a submitted form; returns the result
    /// form. Keeps reading meanwhile.
    async fn command(&mut self, node: &str, fields: &[(&str, &str)]) -> Result<Element, Failed> {
        let mut form = Element::builder("x", NS_DATA).attr(xml_ncname!("type").into(), "submit");
        for (var, value) in fields {
            form = form.append(
                Element::builder("field", NS_DATA)
                    .attr(xml_ncname!("var").into(), *var)
                    .append(Element::builder("value", NS_DATA).append(*value).build())
                    .build(),
            );
        }
        let request = Element::builder("command", NS_COMMANDS)
            .attr(xml_ncname!("node").into(), node)
            .attr(xml_ncname!("action").into(), "execute")
            .append(form.build())
            .build();
        let answer = self
            .client
            .send_iq(Some(self.bridge.clone()), IqRequest::Set(request))
            .await;
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(answer, deadline);
        if std::env::var_os("PLATFORM_DEBUG").is_some() {
            eprintln!("platform: {node} sent, waiting");
        }
        let answer = loop {
            tokio::select! {
                answer = &mut answer => break answer.map_err(|e| format!("{node}: {e}"))?,
                event = self.client.next() => self.take(event)?,
                _ = &mut deadline => return Err(Failed::Refused(format!("{node}: no answer within 30 s"))),
            }
        };
        match answer {
            IqResponse::Result(Some(payload)) => payload
                .get_child("x", NS_DATA)
                .cloned()
                .ok_or_else(|| Failed::Refused(format!("{node}: no result form"))),
            IqResponse::Result(None) => Err(Failed::Refused(format!("{node}: empty answer"))),
            IqResponse::Error(error) => Err(Failed::Refused(format!(
                "{node} refused: {}",
                error
                    .texts
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| format!("{:?}", error.defined_condition))
            ))),
        }
    }
}

/// Asks the bridge who `player` is chatting with; prints and returns them.
async fn peers(link: &mut Link, player: &str) -> Result<Vec<String>, Failed> {
    let result = link.command("peers", &[("jid", player)]).await?;
    let peers: Vec<String> = items(&result)
        .into_iter()
        .filter_map(|mut row| row.remove("jid"))
        .collect();
    println!(
        "peers of {player}: {}",
        if peers.is_empty() {
            "nobody right now".to_owned()
        } else {
            peers.join(", ")
        }
    );
    Ok(peers)
}

/// Invites the host's active peers to `game`; returns the invite's id.
async fn invite(link: &mut Link, host: &str, game: &str) -> Result<Option<String>, Failed> {
    let session = format!("{game}-{}", std::process::id());
    let result = link
        .command(
            "invite",
            &[
                ("host", host),
                ("game", game),
                ("session", &session),
                ("expiry", "120"),
            ],
        )
        .await?;
    let id = value(&result, "invite");
    for row in items(&result) {
        println!(
            "  {}: {}",
            row.get("jid").map_or("?", String::as_str),
            row.get("result").map_or("?", String::as_str)
        );
    }
    match &id {
        Some(id) => println!("invite {id} sent for {host}'s game of {game}; waiting for answers"),
        None => println!("nobody could be invited"),
    }
    Ok(id)
}

/// One piece of news about an invite: print it, and act on `ready` and `solo`. Returns
/// the invite whose game started, if one did.
async fn on_news(
    link: &mut Link,
    news: &Element,
    waiting: &mut HashMap<String, (String, String)>,
) -> Result<Option<String>, Failed> {
    let get = |var| value(news, var).unwrap_or_default();
    let (id, outcome) = (get("invite"), get("outcome"));
    let how = match get("how").as_str() {
        "" => String::new(),
        how => format!(" (through {how})"),
    };
    println!(
        "news: {} {} invite {id}{how} → {outcome}",
        get("invitee"),
        get("answer")
    );
    let Some((host, game)) = waiting.get(&id).cloned() else {
        return Ok(None);
    };
    match outcome.as_str() {
        "ready" => {
            waiting.remove(&id);
            link.command("session-started", &[("invite", &id)]).await?;
            println!(
                "ready: starting a multiplayer game of {game} for {host} and {}",
                get("invitee")
            );
            Ok(Some(id))
        }
        "solo" => {
            waiting.remove(&id);
            println!("solo: nobody joined, starting a single-player game of {game} for {host}");
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The data form of `form_type` in a message, if it carries one.
fn form_of_type(message: &Element, form_type: &str) -> Option<Element> {
    message
        .children()
        .find(|c| c.is("x", NS_DATA) && value(c, "FORM_TYPE").as_deref() == Some(form_type))
        .cloned()
}

/// A top-level field's value.
fn value(form: &Element, var: &str) -> Option<String> {
    form.children()
        .find(|f| f.name() == "field" && f.attr("var") == Some(var))
        .and_then(|f| f.get_child("value", NS_DATA))
        .map(Element::text)
}

/// The rows of a result table (`<item/>`s), each as var → value.
fn items(form: &Element) -> Vec<HashMap<String, String>> {
    form.children()
        .filter(|c| c.name() == "item")
        .map(|item| {
            item.children()
                .filter_map(|f| {
                    Some((
                        f.attr("var")?.to_owned(),
                        f.get_child("value", NS_DATA)?.text(),
                    ))
                })
                .collect()
        })
        .collect()
}
