#!/usr/bin/env bash
# Pictures of what people see, for docs/clients/: runs the terminal-client tests
# (Profanity, Poezio and mcabber in tmux, on a private Prosody) and the privacy page's
# test (headless Chromium) keeping every screen they check, and draws each terminal
# screen as a picture. The desktop clients have their own script:
# scripts/desktop-clients.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-packages.sh prosody prosody-modules tmux profanity poezio mcabber chromium fonts-dejavu-core
out="${1:-docs/clients}"
mkdir -p "$out"
screens="$(mktemp -d)"
trap 'rm -rf "$screens"' EXIT

echo "== the tests, keeping their screens"
CLIENT_SCREENS="$screens" cargo nextest run --locked --test integration \
    -E 'test(/^clients::/) | test(privacy_page)'

echo "== drawing them"
cp "$screens/privacy-page.png" "$out/"
# What each client shows of a consent request, of an invitation, and of the privacy
# words (with the answers before them).
for text in "$screens"/*-consent-request.txt "$screens"/*-invitation.txt "$screens"/*-privacy.txt; do
    name="$(basename "$text" .txt)"
    html="$screens/$name.html"
    kept="$(python3 - "$text" "$html" <<'PY'
import html, sys
lines = open(sys.argv[1], encoding="utf-8").read().rstrip("\n").split("\n")
# Long runs of empty lines (the unused middle of a screen) shown as one.
kept, empty = [], 0
for line in lines:
    empty = empty + 1 if not line.strip() else 0
    if empty <= 1:
        kept.append(line)
body = html.escape("\n".join(kept))
open(sys.argv[2], "w", encoding="utf-8").write(
    "<!doctype html><meta charset=utf-8><style>"
    "body{margin:0;background:#1e1e1e}"
    "pre{margin:0;padding:12px;color:#e8e8e8;font:13px/1.35 'DejaVu Sans Mono',monospace;white-space:pre}"
    f"</style><pre>{body}</pre>"
)
print(len(kept))
PY
)"
    height=$(( kept * 18 + 30 ))
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$screens/profile" --window-size=1240,"$height" \
        --screenshot="$out/$name.png" "file://$html" >/dev/null 2>&1
    echo "   $out/$name.png"
done
