//! What people see in the chat clients they use. Three terminal clients from Debian's
//! packages (Profanity 0.13, Poezio 0.14, mcabber 1.1) are driven in tmux, whose screen
//! can be read back, the way a person would use them: a player receives a platform's
//! consent request and a game invitation, reads on the screen everything they need to
//! decide (who asks, what for, until when, the join link, how to answer), and answers.
//! A game developer tries `peers` from Profanity as the platform's account.
//!
//! Set `CLIENT_SCREENS=<dir>` to keep each screen checked as a text file there
//! (`scripts/client-screens.sh` turns them into the pictures under `docs/clients/`).
//!
//! Desktop clients (Pidgin, Psi, Gajim) run on a private X display (Xvfb, openbox), driven
//! with xdotool and photographed with ImageMagick's `import`: ignored by default
//! (`scripts/desktop-clients.sh` runs them and keeps their pictures).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::directory::{field, form, friends, status_until};
use crate::rights::{command, result_field};
use crate::support::{
    Bridge, BridgeConfig, Client, Server, ServerKind, ServerOptions, COMPONENT_JID,
};

/// Long: a client starts slowly on a busy machine (Poezio is Python).
const T: Duration = Duration::from_secs(45);
const ARCADE: &str = "arcade@example.test";

/// A chat client in a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    Profanity,
    Poezio,
    Mcabber,
}

impl App {
    fn name(self) -> &'static str {
        match self {
            App::Profanity => "profanity",
            App::Poezio => "poezio",
            App::Mcabber => "mcabber",
        }
    }
}

/// A home of its own for a client: its configuration, its data, nothing of the machine's.
fn private_home(app: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("xgb-{app}-"))
        .tempdir()
        .unwrap()
}

/// Writes `text` at `path` under `home`, making the folders it needs.
fn write_in(home: &Path, path: &str, text: String) {
    let path = home.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Makes `home` nobody's, for a client that will not run as root (Poezio, Gajim).
fn give_to_nobody(home: &Path) {
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(home)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A client running in a detached tmux session of its own, with a private home.
struct Terminal {
    app: App,
    session: String,
    _home: tempfile::TempDir,
    /// The line typed last: on a busy machine a client may miss its Enter, and the line
    /// stays in its input field.
    typed: std::cell::RefCell<String>,
}

impl Terminal {
    fn start(app: App, user: &str, port: u16) -> Terminal {
        let home = private_home(app.name());
        let h = home.path();
        let password = format!("{user}-pw");
        let jid = format!("{user}@example.test");
        let write = |path: &str, text: String| write_in(h, path, text);
        match app {
            App::Profanity => {
                write(
                    "data/profanity/accounts",
                    format!(
                        "[{user}]\nenabled=true\njid={jid}\npassword={password}\nresource=profanity\n\
                         server=127.0.0.1\nport={port}\ntls.policy=disable\npresence.login=online\n"
                    ),
                );
                write(
                    "config/profanity/profrc",
                    "[connection]\nautoping=0\n".into(),
                );
            }
            App::Poezio => write(
                "config/poezio/poezio.cfg",
                format!(
                    "[Poezio]\njid = {jid}/poezio\npassword = {password}\ncustom_host = 127.0.0.1\n\
                     custom_port = {port}\nforce_encryption = false\nignore_certificate = true\n\
                     enable_vertical_tab_list = false\n"
                ),
            ),
            App::Mcabber => {
                write(
                    ".mcabber/mcabberrc",
                    format!(
                        "set jid = {jid}\nset password = {password}\nset resource = mcabber\n\
                         set disable_random_resource = 1\nset server = 127.0.0.1\nset port = {port}\n\
                         set tls = 0\nset ssl = 0\n"
                    ),
                );
                // mcabber refuses a config others may read.
                use std::os::unix::fs::PermissionsExt;
                for (path, mode) in [(".mcabber", 0o700), (".mcabber/mcabberrc", 0o600)] {
                    std::fs::set_permissions(h.join(path), std::fs::Permissions::from_mode(mode))
                        .unwrap();
                }
            }
        }
        let d = h.display();
        let env = format!(
            "env HOME={d} LANG=C.UTF-8 TERM=screen-256color XDG_CONFIG_HOME={d}/config \
             XDG_DATA_HOME={d}/data XDG_CACHE_HOME={d}/cache"
        );
        let mut line = format!("{env} {}", app.name());
        if app == App::Profanity {
            line.push_str(&format!(" -a {user}"));
        }
        // Poezio will not run as root: as root, it runs as nobody, in a home it owns.
        if app == App::Poezio && is_root() {
            give_to_nobody(h);
            line = format!("setpriv --reuid=nobody --regid=nogroup --clear-groups {line}");
        }
        // A client that quits leaves its last words and exit status on the screen.
        line.push_str("; echo \"(exited: $?)\"; sleep 3600");
        let session = format!("xgb-{}-{}-{user}", std::process::id(), app.name());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "150", "-y", "50"])
            .arg(line)
            .status()
            .expect("tmux runs");
        assert!(status.success());
        Terminal {
            app,
            session,
            _home: home,
            typed: std::cell::RefCell::default(),
        }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
        *self.typed.borrow_mut() = line.to_owned();
    }

    /// Whether the line typed last still waits in the input field (the screen's last
    /// line).
    fn pending(&self, screen: &str) -> bool {
        let typed = self.typed.borrow();
        let last = screen
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        !typed.is_empty() && last.trim_end().ends_with(typed.as_str())
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen shows every one of `needles` (each may be wrapped over
    /// lines), and returns the screen.
    async fn wait_for(&self, needles: &[&str]) -> String {
        self.wait(needles, false).await
    }

    /// The same, bringing the conversation with the bridge to the front while waiting
    /// (in Poezio and mcabber a message shows only there; Profanity brings a form to
    /// the front by itself).
    async fn wait_in_chat(&self, needles: &[&str]) -> String {
        self.wait(needles, self.app != App::Profanity).await
    }

    async fn wait(&self, needles: &[&str], open: bool) -> String {
        let deadline = Instant::now() + T;
        let mut pending_before = false;
        loop {
            let screen = self.screen();
            let text = read(&screen);
            let missing: Vec<&&str> = needles
                .iter()
                .filter(|n| !text.contains(&read(n)))
                .collect();
            if missing.is_empty() {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{} never showed {missing:?}; the screen:\n{screen}",
                self.app.name()
            );
            // Still in the input field a poll later: the client missed its Enter, so
            // press it again, as a person would.
            let pending = self.pending(&screen);
            if pending && pending_before {
                self.keys(&["Enter"]);
            }
            pending_before = pending;
            if open {
                self.open_bridge().await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Brings the conversation with the bridge to the front.
    async fn open_bridge(&self) {
        match self.app {
            App::Profanity => self.type_line(&format!("/msg {COMPONENT_JID}")),
            // Its first conversation is the second tab.
            App::Poezio => self.keys(&["M-1"]),
            App::Mcabber => {
                self.type_line(&format!("/roster search {COMPONENT_JID}"));
                tokio::time::sleep(Duration::from_millis(300)).await;
                // An empty line opens the chat with the buddy selected.
                self.keys(&["Enter"]);
            }
        }
    }

    /// Says `text` to the bridge, as a person types it.
    fn say(&self, text: &str) {
        match self.app {
            App::Profanity => self.type_line(&format!("/msg {COMPONENT_JID} {text}")),
            App::Poezio => self.type_line(text),
            App::Mcabber => self.type_line(&format!("/say_to {COMPONENT_JID} {text}")),
        }
    }

    /// Keeps `screen` as `<name>.txt` under `CLIENT_SCREENS`, when set.
    fn keep(&self, name: &str, screen: &str) {
        if let Some(dir) = std::env::var_os("CLIENT_SCREENS") {
            let dir = Path::new(&dir);
            std::fs::create_dir_all(dir).unwrap();
            let trimmed: Vec<&str> = screen.lines().map(str::trim_end).collect();
            std::fs::write(
                dir.join(format!("{}-{name}.txt", self.app.name())),
                trimmed.join("\n").trim_end().to_owned() + "\n",
            )
            .unwrap();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // The client runs in the pane's process group; a client that ignores the hangup
        // of a closed pane (Poezio spins on) would outlive the test.
        let pane = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .stderr(std::process::Stdio::null())
            .output();
        if let Ok(pane) = pane {
            let pid = String::from_utf8_lossy(&pane.stdout).trim().to_owned();
            if !pid.is_empty() {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A screen's text as a person reads it: the panels' borders and the wrapping gone, one
/// space between words.
fn read(screen: &str) -> String {
    let words: Vec<&str> = screen
        .lines()
        .flat_map(|line| line.rsplit('│').next().unwrap_or(line).split_whitespace())
        .collect();
    words.join(" ")
}

/// Prosody, the bridge (users opt in), the platform arcade, and `player`, a mutual
/// contact of alice who has not shared with any platform yet.
async fn world(player: &str) -> (Server, Bridge, Client, Client) {
    world_with(player, &ServerOptions::default()).await
}

async fn world_with(player: &str, options: &ServerOptions) -> (Server, Bridge, Client, Client) {
    let server = Server::start_with(ServerKind::Prosody, options)
        .await
        .expect("server starts");
    server
        .register_users(&["arcade", "alice", player])
        .await
        .unwrap();
    let config = BridgeConfig {
        platforms: vec![ARCADE.to_owned()],
        consent: "opt-in",
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let (mut alice, player_client) = friends(&server, "alice", player).await;
    let shared = crate::rights::say(&mut alice, "share all").await;
    assert!(
        shared.starts_with("Every platform may now see you."),
        "{shared}"
    );
    // The player goes on in their own client.
    player_client.close().await;
    let arcade = crate::directory::login(&server, "arcade").await;
    (server, bridge, arcade, alice)
}

/// The news a platform receives next, as its form.
async fn news(arcade: &mut Client, form_type: &str) -> minidom::Element {
    let message = arcade
        .recv_matching(T, |e| {
            e.name() == "message"
                && e.attr("from") == Some(COMPONENT_JID)
                && e.get_child("x", "jabber:x:data")
                    .is_some_and(|x| String::from(x).contains(form_type))
        })
        .await
        .expect("the platform is told");
    message.get_child("x", "jabber:x:data").unwrap().clone()
}

/// The platform asks `jid` to share with it, saying why: the request's id.
async fn ask_to_share(arcade: &mut Client, jid: &str) -> String {
    let asked = command(
        arcade,
        "request-consent",
        &[("jid", jid), ("reason", "to find your friends for Chess")],
        None,
    )
    .await;
    assert_eq!(result_field(&asked, "result"), "sent");
    result_field(&asked, "prompt")
}

/// The platform hears that `jid` agreed, and then sees them.
async fn consent_heard(arcade: &mut Client, jid: &str) {
    let told = news(arcade, "urn:xmpp-game-bridge:consent:1").await;
    assert_eq!(field(&told, "answer"), ["yes"]);
    status_until(arcade, jid, "available").await;
}

/// The platform invites `jid` to alice's game of Chess: the invite's id.
async fn invite_to_chess(arcade: &mut Client, jid: &str) -> String {
    let invited = command(
        arcade,
        "invite",
        &[
            ("host", "alice@example.test"),
            ("invitees", jid),
            ("game", "Chess"),
            ("session", "table-7"),
            ("join", "https://play.example.test/j/7"),
            ("expiry", "900"),
        ],
        None,
    )
    .await;
    field(&form(&invited), "invite").join("")
}

/// The platform hears that the invitation of `invite` was accepted.
async fn acceptance_heard(arcade: &mut Client, invite: &str) {
    let told = news(arcade, "urn:xmpp-game-bridge:invite:1").await;
    assert_eq!(field(&told, "invite"), [invite]);
    assert_eq!(field(&told, "answer"), ["accepted"]);
}

/// A player in `app` receives a consent request and a game invitation, sees everything
/// the messages say, and answers both.
async fn a_player_reads_and_answers(app: App) {
    let player = "carol";
    let jid = format!("{player}@example.test");
    let (server, bridge, mut arcade, _alice) = world(player).await;
    let client = Terminal::start(app, player, server.c2s_port());
    let welcome = match app {
        App::Profanity => "logged in successfully",
        App::Poezio => "Authentication success",
        App::Mcabber => "Your status has been set",
    };
    client.wait_for(&[welcome]).await;

    // The consent request.
    let id = ask_to_share(&mut arcade, &jid).await;
    let screen = client
        .wait_in_chat(&[
            "arcade asks to see when you are available",
            "whom you are chatting with",
            "to send you game invitations",
            "Why, in arcade's words: \"to find your friends for Chess\"",
            &format!("Reply \"yes {id}\" to agree or \"no {id}\" to refuse, within 7 days"),
            "say \"privacy\"",
        ])
        .await;
    client.keep("consent-request", &screen);
    match app {
        App::Profanity => {
            // The form shows its choices, "not now" chosen; sent back as it came, it
            // answers nothing.
            client
                .wait_for(&[
                    "[later] Not now (decide later)",
                    "[yes] Share with arcade",
                    "[no] Do not share",
                ])
                .await;
            client.type_line("/form submit");
            client.open_bridge().await;
            client
                .wait_for(&[&format!("Nothing answered: {id} still waits for you.")])
                .await;
            client.say(&format!("yes {id}"));
        }
        // Only one question waits: the bare word answers it.
        App::Poezio | App::Mcabber => client.say("yes"),
    }
    let screen = client
        .wait_for(&["Thank you: arcade may now see you."])
        .await;
    client.keep("consent-answered", &screen);
    consent_heard(&mut arcade, &jid).await;

    // The invitation.
    let invite = invite_to_chess(&mut arcade, &jid).await;
    let screen = client
        .wait_in_chat(&[
            "alice@example.test invites you to play Chess on arcade",
            "(for 15 min, until",
            "Join: https://play.example.test/j/7",
        ])
        .await;
    let id = read(&screen)
        .split("Reply \"accept ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no \"accept <id>\" on the screen:\n{screen}"));
    client.keep("invitation", &screen);
    match app {
        App::Profanity => {
            client
                .wait_for(&["[yes] Accept", "[no] Decline", "[later] Not now"])
                .await;
            client.type_line("/field1 yes");
            client.type_line("/form submit");
            client.open_bridge().await;
        }
        App::Poezio => client.say("accept"),
        App::Mcabber => client.say(&format!("accept {id}")),
    }
    let screen = client
        .wait_for(&[
            "You accepted alice@example.test's invitation to Chess. Have fun!",
            "Join: https://play.example.test/j/7",
        ])
        .await;
    client.keep("invitation-answered", &screen);
    acceptance_heard(&mut arcade, &invite).await;

    // The player looks at their privacy: short answers, in plain words.
    client.say("history");
    client
        .wait_in_chat(&[
            "Who looked at you lately, newest first:",
            "- arcade sent you an invitation, just now",
            "- arcade saw your status, just now",
        ])
        .await;
    client.say("stop arcade");
    client
        .wait_in_chat(&["arcade no longer sees you. Say \"share arcade\" to undo."])
        .await;
    client.say("stop arcade");
    let screen = client
        .wait_in_chat(&["arcade already does not see you."])
        .await;
    client.keep("privacy", &screen);

    if app == App::Profanity {
        // A form with a line of text: the instructions say to quote it, and quoted, all
        // of it is kept. A form with nothing to fill completes at once.
        client.type_line(&format!("/cmd exec my-status {COMPONENT_JID}"));
        client
            .wait_for(&["put the line in quotes: \"Up for chess after 8\""])
            .await;
        client.type_line("/field1 \"Up for chess after 8\"");
        client.type_line("/form submit");
        client.wait_for(&["Status: Up for chess after 8"]).await;
        client.type_line(&format!("/cmd exec invitations {COMPONENT_JID}"));
        let screen = client
            .wait_for(&["No game invitation is waiting for you."])
            .await;
        assert!(!screen.contains("/form submit"), "{screen}");
    }

    // Added to the player's contacts, the bridge shows online, as a service does.
    match app {
        App::Profanity => client.type_line(&format!("/sub request {COMPONENT_JID}")),
        App::Poezio | App::Mcabber => client.type_line(&format!("/add {COMPONENT_JID}")),
    }
    let online = match app {
        App::Profanity => "game.example.test [online]",
        App::Poezio => "game.example.test is online",
        App::Mcabber => "[o] Buddy: game.example.test",
    };
    client.open_bridge().await;
    let screen = client.wait_in_chat(&[online]).await;
    client.keep("bridge-online", &screen);
    drop((server, bridge));
}

#[tokio::test]
async fn profanity_a_player_reads_and_answers() {
    a_player_reads_and_answers(App::Profanity).await;
}

#[tokio::test]
async fn poezio_a_player_reads_and_answers() {
    a_player_reads_and_answers(App::Poezio).await;
}

#[tokio::test]
async fn mcabber_a_player_reads_and_answers() {
    a_player_reads_and_answers(App::Mcabber).await;
}

#[tokio::test]
async fn profanity_a_platform_sees_labelled_fields_and_the_summary() {
    let server = Server::start_with(ServerKind::Prosody, &ServerOptions::default())
        .await
        .expect("server starts");
    server
        .register_users(&["arcade", "alice", "bob"])
        .await
        .unwrap();
    let config = BridgeConfig {
        platforms: vec![ARCADE.to_owned()],
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let (mut alice, _bob) = friends(&server, "alice", "bob").await;
    alice
        .send_presence(Some("chat"), Some("up for a game"))
        .await
        .unwrap();

    let profanity = Terminal::start(App::Profanity, "arcade", server.c2s_port());
    profanity.wait_for(&["logged in successfully"]).await;
    profanity.type_line(&format!("/cmd exec peers {COMPONENT_JID}"));
    let screen = profanity
        .wait_for(&["/form submit", "User (required):"])
        .await;
    profanity.keep("platform-form", &screen);
    profanity.type_line("/field1 alice@example.test");
    profanity.type_line("/form submit");
    let result = profanity
        .wait_for(&[
            "User: alice@example.test",
            "User's availability: chat",
            "Activity tier: presence",
            "What this platform may do for the user: open-url,invite,send-message,attention,set-status,launch,publish-gaming",
        ])
        .await;
    assert!(
        !result.contains("(null)"),
        "a field without a label: {result}"
    );
    profanity.type_line("/win 1");
    profanity
        .wait_for(&["alice@example.test is chatting with bob@example.test (available)"])
        .await;
    drop((server, bridge));
}

/// A desktop chat client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DesktopApp {
    Pidgin,
    Psi,
    Gajim,
    Dino,
}

impl DesktopApp {
    fn name(self) -> &'static str {
        match self {
            DesktopApp::Pidgin => "pidgin",
            DesktopApp::Psi => "psi",
            DesktopApp::Gajim => "gajim",
            DesktopApp::Dino => "dino",
        }
    }
}

/// What Dino needs to log in, as a user's own server would give it: Dino takes no server
/// address and insists on TLS, so the test makes a certificate authority and a
/// certificate for [`DOMAIN`](crate::support::DOMAIN), Prosody offers STARTTLS with it, and
/// Dino runs in a mount namespace of its own where `/etc/hosts` says example.test is
/// 127.0.0.1 and the system's trusted authorities include the test's. Port 5222, where
/// Dino looks without DNS, is forwarded to the test's Prosody (see [`forward_5222`]).
struct DinoWorld {
    dir: tempfile::TempDir,
}

impl DinoWorld {
    fn new() -> DinoWorld {
        let dir = private_home("dino-tls");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &key,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-subj",
                    "/CN=xmpp-game-bridge test authority",
                    "-days",
                    "2",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &key,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=example.test",
                ],
            ]
            .concat(),
        );
        std::fs::write(d.join("san.cnf"), "subjectAltName=DNS:example.test\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
        ]);
        let system =
            std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let ours = std::fs::read_to_string(d.join("ca.crt")).unwrap();
        std::fs::write(d.join("authorities.crt"), format!("{system}{ours}")).unwrap();
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        std::fs::write(d.join("hosts"), format!("127.0.0.1 example.test\n{hosts}")).unwrap();
        DinoWorld { dir }
    }

    fn server_options(&self) -> ServerOptions {
        ServerOptions {
            c2s_tls: Some((
                self.dir.path().join("server.crt"),
                self.dir.path().join("server.key"),
            )),
            ..ServerOptions::default()
        }
    }
}

/// Forwards 127.0.0.1:5222 to `port` while the test runs.
async fn forward_5222(port: u16) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:5222")
        .await
        .expect("port 5222 is free on loopback (Dino connects there)");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// A desktop client on its own X display, with a window manager placing its windows.
struct Desktop {
    app: DesktopApp,
    display: String,
    children: Vec<std::process::Child>,
    _home: tempfile::TempDir,
}

impl Desktop {
    /// `tls`: for Dino, the folder [`DinoWorld`] made.
    fn start(app: DesktopApp, user: &str, port: u16, tls: Option<&Path>) -> Desktop {
        let home = private_home(app.name());
        let h = home.path();
        let write = |path: &str, text: String| write_in(h, path, text);
        let jid = format!("{user}@example.test");
        let password = format!("{user}-pw");
        match app {
            DesktopApp::Pidgin => {
                write(
                    ".purple/accounts.xml",
                    format!(
                        "<?xml version='1.0' encoding='UTF-8' ?><account version='1.0'><account>\
                         <protocol>prpl-jabber</protocol><name>{jid}/pidgin</name><password>{password}</password>\
                         <settings><setting name='connect_server' type='string'>127.0.0.1</setting>\
                         <setting name='port' type='int'>{port}</setting>\
                         <setting name='connection_security' type='string'>opportunistic_tls</setting>\
                         <setting name='auth_plain_in_clear' type='bool'>1</setting></settings>\
                         <settings ui='gtk-gaim'><setting name='auto-login' type='bool'>1</setting></settings>\
                         <current_error/></account></account>"
                    ),
                );
                write(
                    ".purple/prefs.xml",
                    "<?xml version='1.0' encoding='UTF-8' ?><pref version='1' name='/'><pref name='pidgin'>\
                     <pref name='conversations'><pref name='im'><pref name='hide_new' type='string' value='never'/>\
                     </pref></pref></pref></pref>"
                        .to_owned(),
                );
            }
            DesktopApp::Psi => {
                // Psi keeps the password XORed with the JID, in hex.
                let key: Vec<char> = jid.chars().collect();
                let encoded: String = password
                    .chars()
                    .enumerate()
                    .map(|(i, c)| format!("{:04x}", c as u32 ^ key[i % key.len()] as u32))
                    .collect();
                write(
                    ".config/psi/profiles/default/accounts.xml",
                    format!(
                        "<!DOCTYPE accounts><accounts version=\"1.3\" xmlns=\"http://psi-im.org/options\"><accounts><a0>\
                         <enabled type=\"bool\">true</enabled><auto type=\"bool\">true</auto>\
                         <name type=\"QString\">{user}</name><jid type=\"QString\">{jid}</jid>\
                         <password type=\"QString\">{encoded}</password><use-host type=\"bool\">true</use-host>\
                         <host type=\"QString\">127.0.0.1</host><port type=\"int\">{port}</port>\
                         <ssl type=\"QString\">no</ssl><allow-plain type=\"QString\">always</allow-plain>\
                         <automatic-resource type=\"bool\">false</automatic-resource><resource type=\"QString\">psi</resource>\
                         </a0></accounts></accounts>"
                    ),
                );
                write(
                    ".config/psi/profiles/default/options.xml",
                    "<!DOCTYPE psi><psi version=\"1.5\" xmlns=\"http://psi-im.org/options\"><options><ui><tip>\
                     <show type=\"bool\">false</show></tip><message><auto-popup type=\"bool\">true</auto-popup>\
                     </message></ui></options></psi>"
                        .to_owned(),
                );
            }
            // Gajim and Dino keep their settings in SQLite: their first start makes
            // them, then the account goes in (below).
            DesktopApp::Gajim | DesktopApp::Dino => {}
        }
        let tls = tls.map(|t| t.display().to_string()).unwrap_or_default();
        // Gajim will not run as root: as root, it runs as nobody, in a home it owns.
        let as_nobody = app == DesktopApp::Gajim && is_root();
        if as_nobody {
            give_to_nobody(h);
        }
        use std::io::BufRead;
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb runs (apt-get install xvfb)");
        let mut number = String::new();
        std::io::BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut number)
            .unwrap();
        let display = format!(":{}", number.trim());
        let d = h.display().to_string();
        let spawn = |program: &str| {
            let mut command = match (program, as_nobody) {
                ("gajim", true) => {
                    // What the window manager (root) made in the home is nobody's too.
                    let _ = Command::new("chown")
                        .args(["-R", "nobody:nogroup"])
                        .arg(&d)
                        .status();
                    let mut c = Command::new("setpriv");
                    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                        .args(["dbus-run-session", "gajim"]);
                    c
                }
                ("gajim", false) => {
                    let mut c = Command::new("dbus-run-session");
                    c.arg("gajim");
                    c
                }
                ("dino", _) => {
                    let mut c = Command::new("unshare");
                    c.args([
                        "--mount",
                        "sh",
                        "-c",
                        "mount --bind \"$0/hosts\" /etc/hosts && \
                         mount --bind \"$0/authorities.crt\" /etc/ssl/certs/ca-certificates.crt && \
                         exec dbus-run-session dino-im",
                        &tls,
                    ]);
                    c
                }
                _ => Command::new(program),
            };
            // Each in a process group of its own, which the end kills whole.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command
                .env("DISPLAY", &display)
                .env("HOME", &d)
                .env("XDG_CONFIG_HOME", format!("{d}/.config"))
                .env("XDG_DATA_HOME", format!("{d}/.local/share"))
                .env("XDG_CACHE_HOME", format!("{d}/.cache"))
                .env("LANG", "C.UTF-8")
                .env("XDG_RUNTIME_DIR", format!("{d}/run"))
                .current_dir(&d)
                .stdout(std::process::Stdio::null())
                .stderr(
                    std::fs::File::create(format!("{d}/{program}.log"))
                        .map_or_else(|_| std::process::Stdio::null(), Into::into),
                )
                .spawn()
                .unwrap_or_else(|e| panic!("{program} runs: {e}"))
        };
        let wm = spawn("openbox");
        std::thread::sleep(Duration::from_millis(500));
        let mut client = spawn(app.name());
        if app == DesktopApp::Gajim {
            let settings = h.join(".config/gajim/settings.sqlite");
            let ready = || gajim_ready(&settings);
            first_start(&mut client, app, h, Duration::from_secs(3), ready);
            let db = rusqlite::Connection::open(&settings).unwrap();
            let account = serde_json::json!({
                "account": {
                    "name": user, "hostname": "example.test", "password": password,
                    "savepass": true, "active": true, "autoconnect": true,
                    "use_custom_host": true, "custom_host": "127.0.0.1", "custom_port": port,
                    "custom_type": "PLAIN", "use_plain_connection": true,
                    "confirm_unencrypted_connection": false, "resource": "gajim",
                },
                "contact": {},
                "group_chat": {},
            });
            db.execute(
                "INSERT OR REPLACE INTO account_settings VALUES (?1, ?2)",
                (user, account.to_string()),
            )
            .unwrap();
            // No keyring on a private display: the password stays in the settings.
            db.execute(
                "UPDATE settings SET settings = json_set(settings, '$.use_keyring', json('false')) WHERE name = 'app'",
                (),
            )
            .unwrap();
            drop(db);
            client = spawn(app.name());
        }
        if app == DesktopApp::Dino {
            let db = h.join(".local/share/dino/dino.db");
            first_start(&mut client, app, h, Duration::from_secs(2), || {
                dino_ready(&db)
            });
            let db = rusqlite::Connection::open(&db).unwrap();
            db.execute(
                "INSERT INTO account (bare_jid, resourcepart, password, alias, enabled) \
                 VALUES (?1, 'dino', ?2, ?3, 1)",
                (&jid, &password, user),
            )
            .unwrap();
            drop(db);
            client = spawn(app.name());
        }
        Desktop {
            app,
            display,
            children: vec![client, wm, xvfb],
            _home: home,
        }
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let output = Command::new("xdotool")
            .env("DISPLAY", &self.display)
            .args(args)
            .output()
            .expect("xdotool runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The visible window named `name` (a regular expression), once it shows.
    async fn window(&self, name: &str) -> String {
        let deadline = Instant::now() + T;
        loop {
            if let Some(id) = self
                .xdotool(&["search", "--onlyvisible", "--name", name])
                .lines()
                .next()
            {
                return id.to_owned();
            }
            if Instant::now() >= deadline {
                self.shot("failed");
                panic!("{} never showed a window named {name:?}", self.app.name());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Clicks at `x`, `y` within `window`.
    fn click(&self, window: &str, x: u32, y: u32, times: u32) {
        let (x, y, times) = (x.to_string(), y.to_string(), times.to_string());
        self.xdotool(&["mousemove", "--window", window, &x, &y]);
        self.xdotool(&["click", "--repeat", &times, "--delay", "80", "1"]);
    }

    /// The height of `window`'s inside.
    fn height(&self, window: &str) -> u32 {
        self.xdotool(&["getwindowgeometry", window])
            .lines()
            .find_map(|l| l.trim().strip_prefix("Geometry: "))
            .and_then(|g| g.split('x').nth(1))
            .and_then(|h| h.trim().parse().ok())
            .unwrap_or(0)
    }

    fn type_line(&self, window: &str, text: &str) {
        self.xdotool(&["windowactivate", "--sync", window]);
        self.xdotool(&["type", "--delay", "20", text]);
        self.xdotool(&["key", "Return"]);
    }

    /// Keeps a picture of the screen as `<app>-<name>.png` under `CLIENT_SCREENS`.
    fn shot(&self, name: &str) {
        let Some(dir) = std::env::var_os("CLIENT_SCREENS") else {
            return;
        };
        let path = Path::new(&dir).join(format!("{}-{name}.png", self.app.name()));
        let status = Command::new("import")
            .env("DISPLAY", &self.display)
            .args(["-window", "root"])
            .arg(&path)
            .status()
            .expect("ImageMagick's import runs");
        assert!(status.success());
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a client's first start to have made its settings (`ready`), lets it settle
/// for `settle`, and ends it: its account goes in before the next start.
fn first_start(
    client: &mut std::process::Child,
    app: DesktopApp,
    home: &Path,
    settle: Duration,
    ready: impl Fn() -> bool,
) {
    let deadline = Instant::now() + T;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{} never started: {}\n{}",
            app.name(),
            std::fs::read_to_string(home.join(format!("{}.log", app.name()))).unwrap_or_default(),
            String::from_utf8_lossy(&Command::new("find").arg(home).output().unwrap().stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(settle);
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", client.id())])
        .status();
    let _ = client.wait();
    std::thread::sleep(Duration::from_millis(500));
}

/// Whether Dino made its database, accounts table and all.
fn dino_ready(db: &Path) -> bool {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM account", (), |r| r.get::<_, i64>(0)))
        .is_ok()
}

/// Whether Gajim made its settings (`settings`: it holds them locked while it runs).
fn gajim_ready(settings: &Path) -> bool {
    std::fs::metadata(settings).is_ok_and(|m| m.len() > 0)
}

/// A player in a desktop client receives a consent request and an invitation, and
/// answers both as a person would: in Pidgin by typing the word in the chat window; in
/// Psi with the form the first message opens, then in the chat window.
async fn desktop_player_reads_and_answers(app: DesktopApp) {
    let player = "carol";
    let jid = format!("{player}@example.test");
    let dino = (app == DesktopApp::Dino).then(DinoWorld::new);
    let options = dino
        .as_ref()
        .map(DinoWorld::server_options)
        .unwrap_or_default();
    let (server, bridge, mut arcade, _alice) = world_with(player, &options).await;
    let _forward = match &dino {
        Some(_) => Some(forward_5222(server.c2s_port()).await),
        None => None,
    };
    let client = Desktop::start(
        app,
        player,
        server.c2s_port(),
        dino.as_ref().map(|d| d.dir.path()),
    );
    // Logged in: the bridge answers the client's presence probe... the client's own
    // window is enough to go on; a message sent before it logs in waits offline.
    let main = match app {
        DesktopApp::Pidgin => client.window("^Buddy List$").await,
        DesktopApp::Psi => client.window("Psi$").await,
        DesktopApp::Gajim => client.window("^Gajim$").await,
        DesktopApp::Dino => client.window("^Dino$").await,
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    ask_to_share(&mut arcade, &jid).await;
    // Psi shows the event on the bridge in its roster (the last row: the player, alice,
    // then "Not in list"): a double click opens it.
    // Gajim lists the conversation first in its chat list: a click opens it.
    let open = |main: &str| match app {
        DesktopApp::Psi => client.click(main, 95, 165, 2),
        DesktopApp::Gajim => client.click(main, 244, 167, 1),
        // Dino lists the conversation first too.
        DesktopApp::Dino => {
            client.click(main, 120, 90, 1);
            // Away from the list, whose tooltip would hide the first lines.
            client.xdotool(&["mousemove", "800", "200"]);
        }
        DesktopApp::Pidgin => {}
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    open(&main);
    let window = match app {
        DesktopApp::Gajim | DesktopApp::Dino => main.clone(),
        _ => client.window("^game.example.test$").await,
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.shot("consent-request");
    let answer_form = |window: &str, choice_downs: usize| {
        // The choice sits above the buttons at the window's bottom, however long the
        // instructions above it; then Submit (Alt+S).
        let height = client.height(window);
        client.click(window, 340, height.saturating_sub(68), 1);
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..choice_downs {
            client.xdotool(&["key", "Down"]);
        }
        client.xdotool(&["key", "Return"]);
        std::thread::sleep(Duration::from_millis(500));
        client.xdotool(&["key", "alt+s"]);
    };
    match app {
        DesktopApp::Pidgin | DesktopApp::Gajim | DesktopApp::Dino => {
            client.type_line(&window, "yes")
        }
        DesktopApp::Psi => answer_form(&window, 1),
    }
    consent_heard(&mut arcade, &jid).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.shot("consent-answered");

    let invite = invite_to_chess(&mut arcade, &jid).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    match app {
        DesktopApp::Pidgin | DesktopApp::Gajim | DesktopApp::Dino => {
            client.shot("invitation");
            client.type_line(&window, "accept");
        }
        DesktopApp::Psi => {
            // With a conversation begun, Psi shows the next messages in a chat window
            // (the body only): the word answers.
            open(&main);
            let window = client.window("^game.example.test$").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            client.shot("invitation");
            client.type_line(&window, "accept");
        }
    }
    acceptance_heard(&mut arcade, &invite).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.shot("invitation-answered");
    drop((server, bridge));
}

#[tokio::test]
#[ignore = "a desktop client: scripts/desktop-clients.sh"]
async fn desktop_pidgin_a_player_reads_and_answers() {
    desktop_player_reads_and_answers(DesktopApp::Pidgin).await;
}

#[tokio::test]
#[ignore = "a desktop client: scripts/desktop-clients.sh"]
async fn desktop_psi_a_player_reads_and_answers() {
    desktop_player_reads_and_answers(DesktopApp::Psi).await;
}

#[tokio::test]
#[ignore = "a desktop client: scripts/desktop-clients.sh"]
async fn desktop_gajim_a_player_reads_and_answers() {
    desktop_player_reads_and_answers(DesktopApp::Gajim).await;
}

#[tokio::test]
#[ignore = "a desktop client: scripts/desktop-clients.sh"]
async fn desktop_dino_a_player_reads_and_answers() {
    desktop_player_reads_and_answers(DesktopApp::Dino).await;
}
