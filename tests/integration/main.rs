//! Integration tests of xmpp-game-bridge against real Prosody and ejabberd.
//!
//! One test binary (build time matters on small machines). Each test starts its own
//! server on free loopback ports (see `support`), registers its own users, and runs the
//! component binary against it. Tests named `<name>::prosody` / `<name>::ejabberd` run the
//! same scenario on each server.

// Tests fail by panicking with a message; the crate's lints against it are for library code.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

mod answers;
mod baseline;
mod clients;
mod directory;
mod hardening;
mod http;
mod invites;
mod operator;
mod ops;
mod rights;
mod side_by_side;
mod soak;
mod standby;
mod testbed_smoke;
mod truth;
