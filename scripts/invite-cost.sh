#!/usr/bin/env bash
# What invites cost the chat server: a private Prosody (Debian's package, with mod_mam and
# info logging) with 1,000 users online; 200 invites, each from another host to five of
# its contacts, 64 waiting at once, every host's roster fetched. Prosody's and the bridge's
# CPU per invite, with Debian's gc and Nagle and with what component-config/ recommends.
#
#   scripts/invite-cost.sh
#   SBS_INVITES=400 SBS_IN_FLIGHT=32 scripts/invite-cost.sh
#   SBS_ROUNDS=2 scripts/invite-cost.sh   # then 200 more, from a bridge that has run a while
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules
exec cargo test --locked --release --test integration -- --ignored --exact side_by_side::invite_cost --nocapture --test-threads 1
