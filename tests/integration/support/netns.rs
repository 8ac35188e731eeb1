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
    /// A namespace of its own (named after this process, so that tests running at once
    /// do not meet), up and reachable.
    pub fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let subnet = free_subnet(pid)?;
        let netns = Netns {
            name: format!("xgb{pid}"),
            host_if: format!("xgbh{pid}"),
            ns_if: format!("xgbn{pid}"),
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
        Ok(netns)
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
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.ns_if,
            "down",
        ])
    }

    /// Forwards connections to this side's end of the pair (a free port) to `to`; the
    /// address the namespace reaches it at.
    pub async fn forward(&self, to: SocketAddr) -> Result<SocketAddr, String> {
        let listener = TcpListener::bind((self.host_ip, 0))
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.host_ip))?;
        let at = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move {
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

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}
