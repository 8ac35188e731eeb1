#!/usr/bin/env bash
# The flood benchmark: a platform limited to 200 requests a second sends 3,000 `peers`
# requests at once through a private Prosody (1,000 users online, on loopback), while
# another platform asks `peers` one request at a time; prints the other platform's
# latency before and during the flood, for each Prosody setting (Debian's defaults, and
# what component-config/ recommends, and the two in between).
#
#   scripts/flood.sh
#   SBS_PROSODY_GC=default SBS_PROSODY_NAGLE=on scripts/flood.sh   # Debian's defaults only
#
# Knobs (environment): FLOOD_COUNT (3000), FLOOD_ONLINE (1000), SBS_PROSODY_GC (Lua values
# of Prosody's `gc` separated by `|`; `default` for none), SBS_PROSODY_NAGLE (`on|off`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules
exec cargo test --locked --release --test integration -- --ignored --exact side_by_side::flood_figures --nocapture --test-threads 1
