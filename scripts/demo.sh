#!/usr/bin/env bash
# The main job of xmpp-game-bridge on one machine: installs Prosody (with prosody-modules
# for XEP-0356) if missing, starts a private Prosody on free loopback ports with a
# generated config and demo users, builds and starts the component attached to it, and
# plays the demo flow, printing each exchange. Everything is stopped at the end
# (pass --keep to leave it running until Ctrl-C). Nothing outside temporary
# directories is touched; servers already running on this machine are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules

echo "== building xmpp-game-bridge, the demo and the example game platform"
cargo build --locked --quiet --bin xmpp-game-bridge --example demo
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked --quiet --manifest-path examples/platform/Cargo.toml --target-dir "$target_dir/platform"
export GAME_PLATFORM_BIN="$target_dir/platform/debug/game-platform-example"
XMPP_GAME_BRIDGE_BIN="$target_dir/debug/xmpp-game-bridge" exec "$target_dir/debug/examples/demo" "$@"
