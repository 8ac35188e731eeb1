//! A network of its own for one bridge: a network namespace joined to this one by a veth
//! pair, and forwarders on this side's end of it to the servers on loopback. Bringing the
//! namespace's end down cuts the bridge off without a reset: its packets are dropped, as
//! when a machine loses its network.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use tokio::net::{TcpListener, TcpStream};

pub struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    /// This side's address on the pair, and the namespace's.
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A `10.231.N.0/30` no interface here has (other tests' namespaces, a run left over),
/// starting from one of this process's own.
fn free_subnet(pid: u32) -> Result<u8, String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    let taken = String::from_utf8_lossy(&out.stdout).into_owned();
    (0..250)
        .map(|step| ((pid + step) % 250) as u8 + 1)
        .find(|n| !taken.contains(&format!(" 10.231.{n}.")))
        .ok_or_else(|| "every 10.231.N.0/30 is taken".to_owned())
}

impl Netns {
    /// A namespace of its own (named after this process and a count, so that tests
    /// running at once do not meet), up and reachable.
    pub fn create() -> Result<Netns, String> {
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let pid = std::process::id();
        let seq = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let subnet = free_subnet(pid)?;
        let netns = Netns {
            name: format!("xgb{pid}x{seq}"),
            host_if: format!("xgbh{pid}x{seq}"),
            ns_if: format!("xgbn{pid}x{seq}"),
            host_ip: Ipv4Addr::new(10, 231, subnet, 1),
            ns_ip: Ipv4Addr::new(10, 231, subnet, 2),
        };
        let (name, host_if, ns_if) = (&netns.name, &netns.host_if, &netns.ns_if);
        ip(&["netns", "add", name])?;
        ip(&[
            "link", "add", host_if, "type", "veth", "peer", "name", ns_if,
        ])?;
        ip(&["link", "set", ns_if, "netns", name])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", netns.host_ip),
            "dev",
            host_if,
        ])?;
        ip(&["link", "set", host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name, "ip"];
            all.extend(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{}/30", netns.ns_ip), "dev", ns_if])?;
        inside(&["link", "set", ns_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        netns.route_out()?;
        Ok(netns)
    }

    /// Everything beyond the pair through this side: the namespace reaches every address
    /// of this side's (another namespace's end, a listener on one), not loopback.
    fn route_out(&self) -> Result<(), String> {
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "route",
            "replace",
            "default",
            "via",
            &self.host_ip.to_string(),
        ])
    }

    /// What a process is run under to be in the namespace.
    pub fn wrapper(&self) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.name.clone(),
        ]
    }

    /// Cuts the namespace off: its end of the pair goes down, and its packets are dropped.
    pub fn cut(&self) -> Result<(), String> {
        self.set_link("down")
    }

    /// The namespace's end of the pair `up` or `down`.
    fn set_link(&self, state: &str) -> Result<(), String> {
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.ns_if,
            state,
        ])
    }

    /// Undoes [`Netns::cut`]: the link up again, and its route.
    pub fn restore(&self) -> Result<(), String> {
        self.set_link("up")?;
        self.route_out()
    }

    /// Forwards connections to this side's end of the pair (a free port) to `to`; the
    /// address the namespace reaches it at. The forwarders run on a runtime of their own,
    /// so that a test waiting on a command (the CLI) does not stop them.
    pub async fn forward(&self, to: SocketAddr) -> Result<SocketAddr, String> {
        let listener = std::net::TcpListener::bind((self.host_ip, 0))
            .map_err(|e| format!("cannot listen on {}: {e}", self.host_ip))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot listen on {}: {e}", self.host_ip))?;
        let at = listener.local_addr().map_err(|e| e.to_string())?;
        forwarders()?.spawn(async move {
            let Ok(listener) = TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(at)
    }
}

/// The forwarders' runtime: one thread, for the whole test process.
fn forwarders() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("forwarders")
                .enable_io()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| "cannot start the forwarders' runtime".to_owned())
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}
