#!/usr/bin/env bash
# Runs every test of xmpp-game-bridge: formatting, clippy, unit tests, and the
# integration tests against real Prosody and ejabberd (installed from Debian's packages
# if missing). The integration tests start private server instances on free loopback
# ports; they never use or disturb servers already running on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# libxml2-utils: xmllint, which checks compact answers against schemas/compact-1.xsd.
# nginx, openssl, curl: the README's reverse proxy in front of the HTTP front door.
# tmux, profanity, poezio, mcabber: the terminal chat clients the tests drive as players do;
# chromium: the browser (headless) that opens the privacy page.
# python3-venv: the Python tools that check the HTTP door from outside (openapi-spec-
# validator, schemathesis; scripts/ensure-python-tools.sh) and the Python example.
# prometheus: promtool checks /metrics, and a real Prometheus scrapes it.
# postgresql-15: every store test runs on PostgreSQL too, and the standby tests run bridges
# against it (private clusters on free loopback ports; the package's own cluster is not
# used). iproute2: a bridge cut off the network in a namespace of its own.
scripts/ensure-packages.sh prosody prosody-modules ejabberd libxml2-utils nginx openssl curl python3 python3-venv \
    tmux profanity poezio mcabber chromium prometheus postgresql-15 iproute2
scripts/ensure-python-tools.sh >/dev/null

echo "== cargo fmt"
cargo fmt --all -- --check
cargo fmt --manifest-path examples/platform/Cargo.toml -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
# Benchmarks are compiled by clippy above and run with `cargo bench`; they are not tests.
echo "== the example platform (its own package: a tokio-xmpp client)"
cargo build --locked --quiet --manifest-path examples/platform/Cargo.toml --target-dir target/platform
export GAME_PLATFORM_BIN="$PWD/target/platform/debug/game-platform-example"
echo "== tests"
# The store tests' shared PostgreSQL (src/store/testkit.rs) is stopped when the tests end.
stop_test_postgres() {
    local data="${TMPDIR:-/tmp}/xmpp-game-bridge-test-pg/data"
    if [ -f "$data/postmaster.pid" ]; then
        local pg_ctl
        pg_ctl="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl"
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$pg_ctl" -D "$data" -m fast stop >/dev/null || true
        else
            "$pg_ctl" -D "$data" -m fast stop >/dev/null || true
        fi
    fi
}
trap stop_test_postgres EXIT
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --lib --bins --tests --no-fail-fast
else
    cargo test --locked --lib --bins --tests --no-fail-fast
fi
echo "== the Debian package: built, lintian, installed, upgraded, removed and purged here"
# The package of the binary the tests just ran (scripts/build-deb.sh alone builds the
# release one): what is checked is the packaging, and a release build would double the
# run's time on two cores.
BRIDGE_BIN="$PWD/target/debug/xmpp-game-bridge" scripts/package-test.sh
echo "== doc tests (among them: a handler cannot write to the database, which must not compile)"
cargo test --locked --doc
