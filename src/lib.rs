//! xmpp-game-bridge: an XMPP external component (XEP-0114) through which game platforms
//! find a player's active chat peers, read their status and the rights they hold, and
//! carry game invites to the peers' chat clients.
//!
//! Map of the modules, from the top down; a module imports only those below it.
//! - [`doctor`]: the operator's check of a configuration against the server it names:
//!   links as the bridge would, reads the grants and the server's settings, then leaves.
//! - [`daemon`]: wires transport, core and store together; reads the core's part of the
//!   configuration and seeds the registry from it; signals and shutdown.
//! - [`config`]: the operator's TOML configuration, made of each module's own settings.
//! - [`http`]: the HTTP front door: platform commands as JSON, each handed to the core
//!   as a door request. With [`transport`], the only modules with sockets.
//! - [`transport`]: the link to the server (its own XML stream reader, handshake,
//!   keepalive, reconnect with backoff, fair sending).
//! - [`core`]: the sans-IO core, `handle_batch(inputs, now, outbox)`: classifies requests,
//!   decides who asks (through [`rights::actor`]), runs the command pipeline (sessions,
//!   continuations, commit then send), baseline protocol (disco, ping, version), IQ
//!   tracking.
//! - [`commands`]: XEP-0050 command nodes, one file per node, and their registry; a
//!   handler's view, outputs and settings.
//! - [`admin`]: the operator's command line on the database (the registry of platforms).
//! - [`invites`]: game invites: the book of open invites, and what each change does.
//! - [`prompts`]: questions put to users in their chat client, answered four ways.
//! - [`directory`]: presence, rosters, activity and active peers, in memory.
//! - [`rights`]: who is asking ([`rights::Actor`], [`rights::Caller`]), what each may run
//!   and make happen, consent, the registry as held in memory.
//! - [`wire`]: stanzas as bytes: the core's output, serialised once, written in batches;
//!   the stream namespace.
//! - [`failure`]: the one mapping of refusals to stanza errors.
//! - [`store`]: SQLite, `schema.sql` and its migrations; [`store::Reads`], what handlers
//!   may read.
//! - [`news`]: what a platform that asked over HTTP is told (answers, outcomes), as
//!   events for its news outbox instead of messages; its news address.
//! - [`xep`]: typed payloads xmpp-parsers lacks (XEP-0004 multi-item forms, XEP-0050,
//!   XEP-0356).
//! - [`health`]: the link, counters and gauges the operator sees.
//! - [`logging`]: tracing setup (human or JSON lines).
//! - [`strings`]: what users read, in their language.

pub mod admin;
pub mod commands;
pub mod config;
pub mod core;
pub mod daemon;
pub mod directory;
pub mod doctor;
pub mod failure;
pub mod health;
pub mod http;
pub mod invites;
#[cfg(test)]
mod layout_tests;
pub mod logging;
pub mod news;
pub mod prompts;
pub mod rights;
pub mod store;
pub mod strings;
#[cfg(test)]
pub(crate) mod testing;
pub mod transport;
pub mod wire;
pub mod xep;
