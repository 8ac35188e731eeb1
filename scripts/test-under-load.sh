#!/usr/bin/env bash
# Runs every test (scripts/test.sh) several times in a row while stress-ng keeps every
# core busy, as a busy CI machine would: a test that reads a state once where it should
# wait for it fails here. Installs stress-ng if missing.
#
#   scripts/test-under-load.sh            # three runs
#   RUNS=5 scripts/test-under-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh stress-ng
runs="${RUNS:-3}"
cores="$(nproc)"
stress-ng --cpu "$cores" --timeout 0 --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null || true; wait "$stress" 2>/dev/null || true' EXIT
for i in $(seq 1 "$runs"); do
    echo "== run $i of $runs, with stress-ng --cpu $cores"
    start=$(date +%s)
    scripts/test.sh
    echo "== run $i of $runs passed in $(($(date +%s) - start)) s"
done
echo "== all $runs runs passed under load"
