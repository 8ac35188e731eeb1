//! The example game platform (`examples/platform`, its own package: a tokio-xmpp client)
//! as a child process: lines written to its standard input, lines read from its output.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Server, COMPONENT_JID};

/// The example platform's binary: `GAME_PLATFORM_BIN`, or built now into
/// `target/platform` (as `scripts/test.sh` and `scripts/demo.sh` do first).
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("GAME_PLATFORM_BIN") {
        return Ok(PathBuf::from(path));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target/platform");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(root.join("examples/platform/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cannot run cargo to build the example platform: {e}"))?;
    if !built.success() {
        return Err(format!("building the example platform failed: {built}"));
    }
    Ok(target.join("debug/game-platform-example"))
}

pub struct Platform {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Everything it printed, for failures.
    pub printed: Vec<String>,
    /// Prints each line as it comes, prefixed (the demo), or not (tests).
    echo: Option<&'static str>,
}

impl Platform {
    /// Starts the platform as `user` (password `<user>-pw`) on `server`.
    pub fn start(
        server: &Server,
        user: &str,
        echo: Option<&'static str>,
    ) -> Result<Platform, String> {
        let mut command = Command::new(binary()?);
        command
            .arg("--server")
            .arg(format!("127.0.0.1:{}", server.c2s_port()))
            .args(["--jid", &format!("{user}@{}", server.domain())])
            .args(["--password", &format!("{user}-pw")])
            .args(["--bridge", COMPONENT_JID]);
        Platform::spawn(command, echo)
    }

    /// Starts the Python platform (`examples/python-platform`): it asks the bridge's HTTP
    /// door at `bridge` with `token`, and takes its news on `listen`, checked with
    /// `secret`.
    pub fn start_python(
        bridge: &str,
        token: &str,
        (secret, listen): (&str, std::net::SocketAddr),
        echo: Option<&'static str>,
    ) -> Result<Platform, String> {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/python-platform/platform.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .env("BRIDGE_URL", bridge)
            .env("BRIDGE_TOKEN", token)
            .env("WEBHOOK_SECRET", secret)
            .env("WEBHOOK_LISTEN", listen.to_string());
        Platform::spawn(command, echo)
    }

    fn spawn(mut command: Command, echo: Option<&'static str>) -> Result<Platform, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the example platform: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Platform {
            child,
            stdin,
            lines,
            printed: Vec::new(),
            echo,
        })
    }

    /// Writes one command line to the platform.
    pub fn say(&mut self, line: &str) -> Result<(), String> {
        if let Some(prefix) = self.echo {
            println!("  {prefix} ⇐ {line}");
        }
        writeln!(self.stdin, "{line}").map_err(|e| format!("the platform is gone: {e}"))
    }

    /// Reads what the platform prints until a line contains `needle`; returns that line.
    pub async fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    if let Some(prefix) = self.echo {
                        println!("  {prefix} | {line}");
                    }
                    self.printed.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(format!(
                        "the platform stopped before printing {needle:?}; it printed:\n{}",
                        self.printed.join("\n")
                    ))
                }
                Err(mpsc::TryRecvError::Empty) => {
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "the platform did not print {needle:?} within {timeout:?}; it printed:\n{}",
                            self.printed.join("\n")
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
