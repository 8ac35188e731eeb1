#!/usr/bin/env bash
# Desktop chat clients as players use them, with pictures for docs/clients/: Pidgin, Psi,
# Gajim and Dino (Debian's packages) each run on a private X display (Xvfb, openbox) against a
# private Prosody and the bridge, receive a platform's consent request and a game
# invitation, and answer them (xdotool types and clicks as a person would); the tests
# check that the platform hears each answer, and keep a picture of every step. Dino
# needs root (it runs in a mount namespace of its own) and port 5222 free on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules xvfb openbox xdotool imagemagick dbus pidgin psi gajim dino-im openssl
out="${1:-docs/clients}"
mkdir -p "$out"
screens="$(mktemp -d)"
trap 'rm -rf "$screens"' EXIT

CLIENT_SCREENS="$screens" cargo nextest run --locked --test integration \
    --run-ignored only -E 'test(/^clients::desktop_/)'
for client in pidgin psi gajim dino; do
    for step in consent-request invitation-answered; do
        cp "$screens/$client-$step.png" "$out/"
        echo "   $out/$client-$step.png"
    done
done
