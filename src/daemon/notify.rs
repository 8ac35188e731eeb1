//! The service manager's notifications (systemd's `sd_notify` protocol, without
//! libsystemd): `READY=1` once the bridge serves, `STATUS=` lines `systemctl status`
//! shows, `RELOADING=1` around a reload, `STOPPING=1` at shutdown, and `WATCHDOG=1`
//! while the core answers, so that a stuck core is restarted (`WatchdogSec=`).
//!
//! Off unless the manager set `NOTIFY_SOCKET`: a datagram to that socket per message.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{debug, warn};

/// Where the service manager listens.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Path(PathBuf),
    /// A socket in Linux's abstract namespace (`@name`).
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, if the bridge runs under a service manager that listens.
    pub fn from_env() -> Option<Notifier> {
        let target = std::env::var_os("NOTIFY_SOCKET")?;
        let target = target.as_encoded_bytes();
        let target = match target.first() {
            #[cfg(target_os = "linux")]
            Some(b'@') => Target::Abstract(target[1..].to_vec()),
            Some(b'/') => Target::Path(PathBuf::from(std::ffi::OsStr::new(
                std::str::from_utf8(target).ok()?,
            ))),
            _ => {
                warn!("NOTIFY_SOCKET is neither a path nor an abstract socket; the service manager is not told when the bridge is ready");
                return None;
            }
        };
        match UnixDatagram::unbound() {
            Ok(socket) => Some(Notifier { socket, target }),
            Err(e) => {
                warn!(error = %e, "cannot open a socket to the service manager");
                None
            }
        }
    }

    /// Sends `message` (lines of `KEY=value`); a failure is logged, never fatal.
    pub fn send(&self, message: &str) {
        let sent = match &self.target {
            Target::Path(path) => self.socket.send_to(message.as_bytes(), path),
            #[cfg(target_os = "linux")]
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| self.socket.send_to_addr(message.as_bytes(), &addr))
            }
        };
        match sent {
            Ok(_) => debug!(message, "told the service manager"),
            Err(e) => warn!(error = %e, "cannot notify the service manager"),
        }
    }
}

/// How often the watchdog must hear from the bridge (`WATCHDOG_USEC`, for this process),
/// if it watches.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// One line for `systemctl status`: ready, or the first reason why not.
pub fn status_line(unready: &[String]) -> String {
    match unready.first() {
        None => "STATUS=ready: link up, grants in, database writable".to_owned(),
        Some(why) => {
            // The manager keeps a line; a reason can be long.
            let why: String = why.chars().take(200).collect();
            format!("STATUS=not ready: {}", why.replace('\n', " "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reaches_the_socket_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            target: Target::Path(path),
        };
        notifier.send("READY=1\nSTATUS=ready");
        let mut buf = [0u8; 64];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ready");
    }

    #[test]
    fn the_status_line_is_one_line_of_the_first_reason() {
        assert_eq!(
            status_line(&["a\nb".to_owned(), "c".to_owned()]),
            "STATUS=not ready: a b"
        );
        assert!(status_line(&[]).starts_with("STATUS=ready"));
    }
}
