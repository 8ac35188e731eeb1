#!/usr/bin/env bash
# The flood benchmark: a platform limited to 200 requests a second sends 3,000 `peers`
# requests at once through a private Prosody (1,000 users online, on loopback), while
# another platform asks `peers` one request at a time; prints the other platform's
# latency before and during the flood, for each Prosody setting (Debian's defaults for
# `gc` and Nagle, what component-config/ recommends, and the two in between). The test
# bed's Prosody otherwise differs from Debian's configuration: clients without TLS, a
# module list of its own, and no mod_limits unless SBS_LIMITS=on.
#
#   scripts/flood.sh
#   SBS_PROSODY_GC=default SBS_PROSODY_NAGLE=on SBS_LIMITS=on scripts/flood.sh
#
# Knobs (environment): FLOOD_COUNT (3000), FLOOD_ONLINE (1000), SBS_PROSODY_GC (Lua values
# of Prosody's `gc` separated by `|`; `default` for none), SBS_PROSODY_NAGLE (`on|off`),
# SBS_LIMITS (`on`: mod_limits with Debian's rates, c2s read at 10 kb/s;
# `exempt`: the platforms' accounts in unlimited_jids).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules
exec cargo test --locked --release --test integration -- --ignored --exact side_by_side::flood_figures --nocapture --test-threads 1
