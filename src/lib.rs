//! xmpp-game-bridge: an XMPP external component (XEP-0114) through which game platforms
//! find a player's active chat peers, read their status and the rights they hold, and
//! carry game invites to the peers' chat clients.
//!
//! Map of the modules, from the socket inwards:
//! - [`transport`]: the link to the server (tokio-xmpp's XML stream, handshake,
//!   keepalive, reconnect with backoff). The only module that knows about sockets.
//! - [`daemon`]: wires transport, core and store together; signals and shutdown.
//! - [`core`]: the sans-IO core, `handle(input, now) -> outputs`; baseline protocol
//!   (disco, ping, version), IQ tracking, the mapping of failures to stanza errors.
//! - [`commands`]: XEP-0050 command nodes, one file per node, with their access policy.
//! - [`store`]: SQLite, `schema.sql` and its migrations.
//! - [`xep`]: typed payloads xmpp-parsers lacks (XEP-0004 multi-item forms, XEP-0050).
//! - [`config`]: the operator's TOML configuration.
//! - [`logging`]: tracing setup (human or JSON lines).

pub mod commands;
pub mod config;
pub mod core;
pub mod daemon;
pub mod directory;
pub mod logging;
pub mod store;
#[cfg(test)]
pub(crate) mod testing;
pub mod transport;
pub mod xep;
