//! Child processes shared by the servers and the component runner: spawning with output
//! captured to a file, graceful termination with a deadline, reading logs.
//!
//! `std::process` is used rather than `tokio::process` so that `Drop` can kill and reap
//! synchronously; the waits poll `try_wait` with async sleeps so a current-thread runtime
//! keeps serving the test's other tasks meanwhile.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often process states and log files are polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child, String> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot duplicate the handle of {}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}

/// Sends `signal` (e.g. "TERM") to `pid` with the `kill` program, which keeps this crate
/// free of `libc`/`unsafe` for the one signal std cannot send.
pub fn send_signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `kill -{signal} {pid}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`kill -{signal} {pid}` failed with {status}"))
    }
}

/// Waits up to `limit` for `child` to exit; `Ok(None)` when it is still running.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => return Ok(None),
            Ok(None) => tokio::time::sleep(POLL).await,
            Err(e) => return Err(format!("cannot wait for process {}: {e}", child.id())),
        }
    }
}

/// SIGTERM, then SIGKILL if the process has not exited after `grace`. Returns the exit
/// status and whether the kill was needed.
pub async fn terminate(child: &mut Child, grace: Duration) -> Result<(ExitStatus, bool), String> {
    if let Some(status) = child.try_wait().map_err(|e| format!("cannot wait: {e}"))? {
        return Ok((status, false));
    }
    // The process may exit between try_wait and kill: a failed signal is only an error if
    // the process is still there afterwards.
    let signalled = send_signal(child.id(), "TERM");
    if let Some(status) = wait_exit(child, grace).await? {
        return Ok((status, false));
    }
    signalled?;
    Ok((kill_and_reap(child)?, true))
}

/// SIGKILL without waiting.
pub fn kill(child: &mut Child) -> Result<(), String> {
    match child.kill() {
        Ok(()) => Ok(()),
        // Already exited (and maybe reaped): nothing to kill.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(format!("cannot kill process {}: {e}", child.id())),
    }
}

/// SIGKILL and reap; used by `Drop`, where nothing may be awaited.
pub fn kill_and_reap(child: &mut Child) -> Result<ExitStatus, String> {
    kill(child)?;
    child
        .wait()
        .map_err(|e| format!("cannot reap process {}: {e}", child.id()))
}

/// The size of a file, 0 when it does not exist yet: the offset from which a restarted
/// process's new log lines start.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text of `path` from byte `offset` on (lossy UTF-8); empty when it does not exist.
pub fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            // A log being written concurrently may end mid-line; callers only search it.
            let _ = f.read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// A hard-to-guess token for secrets and cookies, without a `rand` dependency: std's
/// `RandomState` is seeded from the OS once per thread and varies per instance; the clock and
/// pid are mixed in so two test processes never share a value.
pub fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for round in 0u8..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(round);
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
