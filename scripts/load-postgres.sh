#!/usr/bin/env bash
# Starts a private PostgreSQL for measurements with Debian's defaults (initdb's settings:
# fsync, synchronous_commit and full_page_writes on), on a free loopback port, with an
# empty database `bridge`; prints its URL. `scripts/load-postgres.sh stop` stops it.
# Usage:
#   url=$(scripts/load-postgres.sh)
#   target/release/examples/load --users 100000 --invites 5000 --storage-url "$url"
set -euo pipefail
dir="${TMPDIR:-/tmp}/xmpp-game-bridge-load-pg"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = stop ]; then
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    exit 0
fi
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
fi
if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" start >/dev/null
as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "DROP DATABASE IF EXISTS bridge" -c "CREATE DATABASE bridge" >/dev/null
echo "postgres://postgres@127.0.0.1:$port/bridge"
