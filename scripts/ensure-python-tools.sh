#!/usr/bin/env bash
# Makes target/pytools, a Python virtual environment with the tools that check the HTTP
# front door from outside: openapi-spec-validator (the OpenAPI document) and schemathesis
# (property-based requests against a live bridge). Prints the environment's bin dir.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh python3-venv >&2
venv="$PWD/target/pytools"
# Pinned, so that a new release cannot change what CI checks.
wanted="openapi-spec-validator==0.7.2 schemathesis==4.32.5"
if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$wanted" ]; then
    echo "== installing $wanted into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check $wanted >&2
    echo "$wanted" > "$venv/.installed"
fi
echo "$venv/bin"
