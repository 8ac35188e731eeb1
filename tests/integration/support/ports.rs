//! Free loopback ports for one server instance.
//!
//! Ports are found by binding `127.0.0.1:0` and reading the port the kernel chose. All
//! listeners of one instance are held open until every port is chosen, so one instance never
//! gets the same port twice; between dropping them and the server binding them another
//! process may take one, which the server start detects and retries with fresh ports.

use std::net::TcpListener;

/// Reserves `n` distinct free ports on 127.0.0.1 and releases them for the caller to bind.
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind 127.0.0.1:0 to find a free port: {e}"))?;
        held.push(listener);
    }
    held.iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| format!("cannot read the address of a bound port: {e}"))
        })
        .collect()
}
