//! Integration-test bed: a real Prosody or ejabberd per test, test users' c2s sessions, and
//! the component binary under test.
//!
//! - [`Server`] (`server.rs`, with `prosody.rs` / `ejabberd.rs`): one server instance in a
//!   temp dir on free loopback ports, killed on drop, log printed when a test panics.
//! - [`Client`] (`client.rs`): a user's c2s session (or a bare component session) speaking
//!   `minidom::Element`s; [`befriend`] makes two users mutual contacts.
//! - [`Bridge`] (`bridge.rs`): runs `xmpp-game-bridge run --config …` against a server.
//! - [`Platform`] (`platform.rs`): the example game platform (`examples/platform`).
//! - [`http::Http`] (`http.rs`): a game server's HTTP/1.1 client of the HTTP front door.
//! - `ports.rs`, `process.rs`: free ports, child processes and their logs.
//!
//! Tests run one per process (cargo-nextest), so nothing here is shared between tests.
// Each test uses a part of the bed; the rest is not dead in general.
#![allow(dead_code, unused_imports)]

mod bridge;
mod client;
mod ejabberd;
pub mod http;
pub mod netns;
mod platform;
mod ports;
mod process;
mod prosody;
mod server;

pub use bridge::{binary, Bridge, BridgeConfig, LINK_UP};
pub use client::{befriend, parse_in, show, xml, Background, Client, NS_CLIENT, NS_COMPONENT};
pub use platform::Platform;
pub use ports::free_ports;
pub use server::{Server, ServerKind, ServerOptions, COMPONENT_JID, DOMAIN, LOBBY_JID};

/// Defines one test per server kind, named `<name>::prosody` and `<name>::ejabberd` (so
/// `cargo nextest run -E 'test(/::ejabberd$/)'` selects one server):
///
/// ```ignore
/// on_both_servers!(async fn roster_is_read(kind) {
///     let server = Server::start(kind).await.expect("server starts");
///     // …
/// });
/// ```
///
/// The body is pasted into each `#[tokio::test]` function rather than called from a shared
/// helper, so that a panic unwinds through the test's `Server`/`Bridge` (which then print
/// their logs) and clippy's `allow-*-in-tests` settings apply to it.
macro_rules! on_both_servers {
    ($(#[$meta:meta])* async fn $name:ident($kind:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn prosody() {
                let $kind = $crate::support::ServerKind::Prosody;
                $body
            }

            #[tokio::test]
            async fn ejabberd() {
                let $kind = $crate::support::ServerKind::Ejabberd;
                $body
            }
        }
    };
}
pub(crate) use on_both_servers;
