//! xmpp-game-bridge: an XMPP external component (XEP-0114) through which game platforms
//! find a player's active chat peers, read their status and the rights they hold, and
//! carry game invites to the peers' chat clients.
//!
//! Map of the modules, from the socket inwards:
//! - [`transport`]: the link to the server (its own XML stream reader, handshake,
//!   keepalive, reconnect with backoff). The only module that knows about sockets.
//! - [`wire`]: stanzas as bytes: the core's output, serialised once, written in batches.
//! - [`daemon`]: wires transport, core and store together; signals and shutdown.
//! - [`core`]: the sans-IO core, `handle_batch(inputs, now, outbox)`: classifies requests,
//!   decides who asks, runs the command pipeline (sessions, continuations, commit then
//!   send), baseline protocol (disco, ping, version), IQ tracking.
//! - [`commands`]: XEP-0050 command nodes, one file per node, and their registry.
//! - [`directory`]: presence, rosters, activity and active peers, in memory.
//! - [`prompts`]: questions put to users in their chat client, answered four ways.
//! - [`invites`]: game invites: the book of open invites, and what each change does.
//! - [`rights`]: who is asking ([`rights::Actor`]) and what each may run.
//! - [`failure`]: the one mapping of refusals to stanza errors.
//! - [`health`]: the link, counters and gauges the operator sees.
//! - [`store`]: SQLite, `schema.sql` and its migrations.
//! - [`xep`]: typed payloads xmpp-parsers lacks (XEP-0004 multi-item forms, XEP-0050).
//! - [`config`]: the operator's TOML configuration.
//! - [`logging`]: tracing setup (human or JSON lines).

pub mod admin;
pub mod commands;
pub mod config;
pub mod core;
pub mod daemon;
pub mod directory;
pub mod failure;
pub mod health;
pub mod invites;
pub mod logging;
pub mod prompts;
pub mod rights;
pub mod store;
pub mod strings;
#[cfg(test)]
pub(crate) mod testing;
pub mod transport;
pub mod wire;
pub mod xep;
