#!/usr/bin/env bash
# The side-by-side benchmark: what a game server pays to learn who a player is chatting
# with, through the bridge and without it (Prosody: XEP-0133 with mod_admin_adhoc;
# ejabberd: its HTTP API with mod_http_api), with 1,000 users online on private servers
# started on loopback ports. Prints one table per server (and per Prosody GC setting).
# Takes about five minutes; nothing outside temporary directories is touched.
#
#   scripts/side-by-side.sh
#   SBS_SERVERS=prosody SBS_PROSODY_GC='default|{ threshold = 200; speed = 200 }' scripts/side-by-side.sh
#
# Knobs (environment): SBS_SERVERS (prosody,ejabberd), SBS_ONLINE (1000), SBS_ROUNDS (20),
# SBS_BLOCK (50 bridge requests per block), SBS_BASELINE_BLOCK (10; 0 leaves the route without
# the bridge out), SBS_PROSODY_GC (Lua
# values of Prosody's `gc` option separated by `|`; `default` for none), SBS_PROSODY_NAGLE
# (`on|off`), SBS_LIMITS (`on`: clients limited as Debian's
# configurations do, Prosody's mod_limits and ejabberd's c2s_shaper; `exempt`: the
# platforms' accounts left out of them), SBS_SHOW (set: print
# one compact and one form answer about alice, as the platform receives them).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules ejabberd
exec cargo test --locked --release --test integration -- --ignored --exact side_by_side::side_by_side --nocapture --test-threads 1
