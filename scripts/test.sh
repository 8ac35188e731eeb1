#!/usr/bin/env bash
# Runs every test of xmpp-game-bridge: formatting, clippy, unit tests, and the
# integration tests against real Prosody and ejabberd (installed from Debian's packages
# if missing). The integration tests start private server instances on free loopback
# ports; they never use or disturb servers already running on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
dpkg -s prosody-modules >/dev/null 2>&1 || missing+=(prosody-modules)
command -v ejabberdctl >/dev/null 2>&1 || [ -x /usr/sbin/ejabberdctl ] || missing+=(ejabberd)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    as_root apt-get update -q
    # policy-rc.d keeps the packages from starting their own servers where it is honoured.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --all-targets --no-fail-fast
else
    cargo test --locked --all-targets --no-fail-fast
fi
