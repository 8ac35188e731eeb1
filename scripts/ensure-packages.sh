#!/usr/bin/env bash
# Installs the given Debian packages if any is missing, non-interactively.
# Usage: scripts/ensure-packages.sh PACKAGE...
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    as_root apt-get update -q
    # The packages' own services stay off where policy-rc.d says so; the tests and the
    # demo start private instances and never use them.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
