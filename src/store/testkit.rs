//! A PostgreSQL for tests: one private cluster on a free loopback port, started by the
//! first test that needs it and shared by every test process after it (each test gets
//! a database of its own, dropped when it is done). It is Debian's PostgreSQL
//! (`postgresql-15`), found under `/usr/lib/postgresql/*/bin` or `$PG_BIN`; when it is
//! missing the test fails, it is never skipped.
//!
//! The cluster is made with `fsync=off`: tests look at what the bridge does, not at the
//! disk, and the figures in the README come from a cluster with Debian's settings.
//! `scripts/test.sh` stops it at the end (`stop`).

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A database of its own for one test.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = apart(move || {
            if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
            Ok(())
        });
    }
}

/// Runs `work` on a thread of its own: PostgreSQL's blocking client must not run on an
/// async test's runtime.
fn apart<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(work)
        .join()
        .map_err(|_| "the test PostgreSQL's helper thread panicked".to_owned())?
}

/// Where the shared cluster lives.
pub fn cluster_dir() -> PathBuf {
    std::env::temp_dir().join("xmpp-game-bridge-test-pg")
}

/// A fresh, empty database on the shared cluster (started if need be).
pub fn database() -> Result<TestDatabase, String> {
    apart(database_here)
}

fn database_here() -> Result<TestDatabase, String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let port = cluster()?;
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .map_err(|e| format!("cannot reach the test PostgreSQL on port {port}: {e}"))?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .map_err(|e| format!("cannot create a test database: {e}"))?;
    Ok(TestDatabase {
        url: format!("postgres://postgres@127.0.0.1:{port}/{name}"),
        name,
        admin,
    })
}

/// PostgreSQL's programs: `$PG_BIN`, or the newest under `/usr/lib/postgresql`.
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!("PostgreSQL is not installed (/usr/lib/postgresql: {e}); scripts/test.sh installs postgresql-15")
        })?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL under /usr/lib/postgresql".to_owned())
}

/// Runs one of PostgreSQL's programs, as the `postgres` user when this is root (the
/// server refuses to run as root).
pub fn run_as_owner(program: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// The shared cluster's port, started under a lock so that concurrent test processes
/// start it once.
fn cluster() -> Result<u16, String> {
    let dir = cluster_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("cannot lock the test cluster: {e}"))?;
    let port_file = dir.join("port");
    if let Ok(mut file) = std::fs::File::open(&port_file) {
        let mut text = String::new();
        if file.read_to_string(&mut text).is_ok() {
            if let Ok(port) = text.trim().parse::<u16>() {
                let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                if postgres::Client::connect(&admin, postgres::NoTls).is_ok() {
                    return Ok(port);
                }
            }
        }
    }
    let port = start(&dir)?;
    let mut file = std::fs::File::create(&port_file).map_err(|e| e.to_string())?;
    write!(file, "{port}").map_err(|e| e.to_string())?;
    Ok(port)
}

fn start(dir: &Path) -> Result<u16, String> {
    let bin = bin_dir()?;
    let data = dir.join("data");
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cannot give the test cluster's directory to postgres".to_owned());
        }
    }
    if !data.join("PG_VERSION").exists() {
        let data_arg = data.display().to_string();
        let out = run_as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    // Stop what a killed run may have left, then start on a free port.
    let data_arg = data.display().to_string();
    let _ = run_as_owner(
        &bin.join("pg_ctl"),
        &["-D", &data_arg, "-m", "immediate", "stop"],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    let log = dir.join("log").display().to_string();
    let out = run_as_owner(
        &bin.join("pg_ctl"),
        &[
            "-D", &data_arg, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        ));
    }
    Ok(port)
}

/// Stops the shared cluster, if it runs.
pub fn stop() -> Result<(), String> {
    let data = cluster_dir().join("data");
    if !data.join("postmaster.pid").exists() {
        return Ok(());
    }
    let data_arg = data.display().to_string();
    run_as_owner(
        &bin_dir()?.join("pg_ctl"),
        &["-D", &data_arg, "-m", "fast", "stop"],
    )?;
    Ok(())
}
