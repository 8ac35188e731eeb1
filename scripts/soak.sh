#!/usr/bin/env bash
# Soak test against real servers (not part of the test run): on Prosody, then ejabberd,
# 20 bridge kills (-9) and 20 server restarts while users come and go and a platform asks
# peers/status all along. Prints one summary line per server. SOAK_ROUNDS=N changes 20.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-packages.sh prosody prosody-modules ejabberd
cargo nextest run --locked --test integration --run-ignored only -E 'test(/^soak::/)' \
    --no-capture --test-threads 1 2>&1 | grep -E '^soak on|PASS|FAIL|panicked|Summary'
