#!/usr/bin/env bash
# The main job of xmpp-game-bridge on one machine: installs Prosody (with prosody-modules
# for XEP-0356) if missing, starts a private Prosody on free loopback ports with a
# generated config and demo users, builds and starts the component attached to it, and
# plays the demo flow, printing each exchange. Everything is stopped at the end
# (pass --keep to leave it running until Ctrl-C). Nothing outside temporary
# directories is touched; servers already running on this machine are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
dpkg -s prosody-modules >/dev/null 2>&1 || missing+=(prosody-modules)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== building xmpp-game-bridge and the demo"
cargo build --locked --quiet --bin xmpp-game-bridge --example demo
XMPP_GAME_BRIDGE_BIN="$PWD/target/debug/xmpp-game-bridge" exec target/debug/examples/demo "$@"
