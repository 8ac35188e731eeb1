#!/usr/bin/env bash
# CI test of the Debian package: builds it (scripts/build-deb.sh, honouring BRIDGE_BIN),
# lints it, then on this machine, as root: install, check every file, the user and the
# secret, check-config as the service user, systemd-analyze verify, an upgrade over a
# changed configuration, remove (configuration and state kept), purge (nothing left).
#
# Usage: sudo scripts/package-test.sh
#   BRIDGE_BIN=/path/to/xmpp-game-bridge  package this binary instead of building one
#   CI=true or PACKAGE_TEST_FORCE=1       purge an installed xmpp-game-bridge first
#                                        (otherwise the test refuses to run)
#   PACKAGE_TEST_FORCE=1                 also delete what a hand-made install left
#                                        (/etc/xmpp-game-bridge, the user, ...)
# Whatever happens, the package is purged again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=xmpp-game-bridge
ETC=/etc/$NAME
CONFIG=$ETC/config.toml
SECRET=$ETC/secret
STATE=/var/lib/$NAME
UNIT=/lib/systemd/system/$NAME.service
WANTS=/etc/systemd/system/multi-user.target.wants/$NAME.service
SHARE=/usr/share/$NAME
DOC=/usr/share/doc/$NAME
MAN=/usr/share/man/man1/$NAME.1.gz

passed=0
step_name="start"
we_installed=0

# --- transcript helpers --------------------------------------------------------------

step() {
    step_name=$*
    printf '\n== %s\n' "$*"
}
ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    echo "FAIL [$step_name]: $*" >&2
    exit 1
}
indent() { sed 's/^/    /'; }
# Runs a command, shows it and its output (indented); a non-zero exit fails the test.
must() {
    echo "\$ $*"
    "$@" 2>&1 | indent && return 0
    fail "'$*' exited ${PIPESTATUS[0]}"
}
# Owner:group and octal mode of a path, as `stat -c '%U:%G %a'` prints them.
expect_stat() {
    local path=$1 want=$2 got
    got=$(stat -c '%U:%G %a' "$path" 2>/dev/null) || fail "$path is missing"
    [ "$got" = "$want" ] || fail "$path is $got, should be $want"
    ok "$path $got"
}
expect_absent() {
    if [ -e "$1" ] || [ -L "$1" ]; then fail "$1 is still there"; fi
    ok "$1 is gone"
}
package_known() { dpkg-query -W -f='${Status}' "$NAME" 2>/dev/null | grep -qv 'not-installed'; }

# Everything the package or its maintainer scripts may leave on the machine.
leftovers() {
    local path
    for path in "$ETC" "$STATE" "$SHARE" "$DOC" "$MAN" "$UNIT" /usr/bin/$NAME "$WANTS" \
        /var/lib/systemd/deb-systemd-helper-enabled/$NAME.service.dsh-also \
        /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/$NAME.service; do
        if [ -e "$path" ] || [ -L "$path" ]; then echo "$path"; fi
    done
    if getent passwd "$NAME" >/dev/null; then echo "user $NAME"; fi
    if getent group "$NAME" >/dev/null; then echo "group $NAME"; fi
    dpkg-statoverride --list | grep -F " $ETC" | sed 's/^/statoverride: /' || true
}

# On any exit: say what failed, and purge what this run installed.
finish() {
    local status=$?
    trap - EXIT
    if [ "$we_installed" = 1 ] && package_known; then
        printf '\n== cleanup: dpkg -P %s\n' "$NAME"
        dpkg -P "$NAME" </dev/null 2>&1 | indent || true
    fi
    if [ "$status" -eq 0 ]; then
        printf '\npackage-test: %s passed, 0 failed\n' "$passed"
    else
        printf '\npackage-test: %s passed, 1 failed (in step: %s)\n' "$passed" "$step_name"
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges the package"

# --- a clean machine to begin with ------------------------------------------------------

step "preflight"
if package_known; then
    if [ "${CI:-}" = true ] || [ "${PACKAGE_TEST_FORCE:-}" = 1 ]; then
        echo "$NAME is installed ($(dpkg-query -W -f='${Status} ${Version}' "$NAME")): purging it first"
        we_installed=1
        must dpkg -P "$NAME"
    else
        fail "$NAME is installed already; this test would purge it (config, secret, database). Set PACKAGE_TEST_FORCE=1 to allow that"
    fi
fi
left=$(leftovers)
if [ -n "$left" ]; then
    if [ "${PACKAGE_TEST_FORCE:-}" = 1 ]; then
        echo "deleting what an earlier install left (PACKAGE_TEST_FORCE=1):"
        indent <<<"$left"
        rm -rf "$ETC" "$STATE" "$SHARE" "$DOC" "$WANTS"
        for path in "$ETC/config.toml" "$ETC"; do
            if dpkg-statoverride --list "$path" >/dev/null; then dpkg-statoverride --remove "$path"; fi
        done
        if getent passwd "$NAME" >/dev/null; then deluser --quiet --system "$NAME" >/dev/null 2>&1; fi
        if getent group "$NAME" >/dev/null; then delgroup --quiet --system "$NAME"; fi
        left=$(leftovers)
    fi
    [ -z "$left" ] || fail "not installed, but these exist (a hand-made install?); the test's purge would delete them: $(tr '\n' ' ' <<<"$left"). Set PACKAGE_TEST_FORCE=1 to delete them"
fi
ok "no $NAME package, user or files on this machine"

# --- build and lint -----------------------------------------------------------------

step "tools (Debian packages, installed if missing)"
# dpkg-dev, binutils: build-deb.sh; systemd: systemd-analyze; adduser, procps: Depends.
must scripts/ensure-packages.sh lintian dpkg-dev binutils systemd adduser procps

step "build: scripts/build-deb.sh${BRIDGE_BIN:+ (BRIDGE_BIN=$BRIDGE_BIN)}"
must scripts/build-deb.sh
VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
DEB=target/debian/${NAME}_${VERSION}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "$DEB was not built"
ok "$DEB ($(stat -c %s "$DEB") bytes)"

step "lintian (no E: allowed)"
echo "\$ lintian --pedantic --display-info $DEB"
lint=$(lintian --pedantic --display-info "$DEB" 2>&1) || true
# lintian says "running with root privileges is not recommended!" under root: noise here.
lint=$(grep -v 'running with root privileges' <<<"$lint" || true)
indent <<<"${lint:-(nothing)}"
if grep -q '^E:' <<<"$lint"; then fail "lintian reports errors"; fi
ok "no lintian errors"

# --- install ------------------------------------------------------------------------

step "install: dpkg -i"
we_installed=1
must dpkg -i "$DEB" </dev/null
status=$(dpkg-query -W -f='${Status} ${Version}' "$NAME")
[ "$status" = "install ok installed $VERSION" ] || fail "dpkg says: $status"
ok "dpkg: $status"

step "files: owner:group mode"
expect_stat /usr/bin/$NAME "root:root 755"
expect_stat "$UNIT" "root:root 644"
expect_stat "$ETC" "root:$NAME 750"
expect_stat "$CONFIG" "root:$NAME 640"
expect_stat "$SECRET" "root:$NAME 640"
expect_stat "$STATE" "$NAME:$NAME 750"
expect_stat "$SHARE" "root:root 755"
snippets=(prosody.cfg.lua ejabberd.yml ejabberd-vm.args mod_game_bridge_activity.lua grafana-dashboard.json alerts.yml)
for file in "${snippets[@]}"; do expect_stat "$SHARE/$file" "root:root 644"; done
expect_stat "$DOC" "root:root 755"
for file in copyright changelog.gz README.md; do expect_stat "$DOC/$file" "root:root 644"; done
expect_stat "$MAN" "root:root 644"

step "files: contents"
cmp -s component-config/$NAME.toml "$CONFIG" || fail "$CONFIG differs from component-config/$NAME.toml"
ok "$CONFIG is component-config/$NAME.toml"
cmp -s component-config/$NAME.service "$UNIT" || fail "$UNIT differs from component-config/$NAME.service"
ok "$UNIT is component-config/$NAME.service"
dpkg-query -W -f='${Conffiles}\n' "$NAME" | grep -q "^ $CONFIG " || fail "$CONFIG is not a conffile"
ok "$CONFIG is a conffile"
# Stripped: no symbol table, and none of the sections strip was told to remove.
sections=$(readelf -S -W /usr/bin/$NAME)
grep -qE ' \.(symtab|comment|debug_[a-z]+) ' <<<"$sections" && fail "/usr/bin/$NAME is not stripped"
ok "/usr/bin/$NAME is stripped"
must /usr/bin/$NAME --version
grep -q 'GLIBC_' < <(objdump -T /usr/bin/$NAME) || fail "objdump finds no GLIBC_ symbols"
depends=$(dpkg-query -W -f='${Depends}' "$NAME")
if ! grep -q 'libc6 (>= ' <<<"$depends" || ! grep -qw adduser <<<"$depends"; then
    fail "Depends lacks libc6 (>= ...) or adduser: $depends"
fi
ok "Depends: $depends"
must zcat "$DOC/changelog.gz"
must grep -E '^(Format|License):' "$DOC/copyright"

step "the system user"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$NAME") || fail "no user $NAME"
echo "    $(getent passwd "$NAME")"
# adduser --system takes ids below FIRST_UID (1000 on Debian).
[ "$uid" -lt 1000 ] || fail "uid $uid is not a system uid"
[ "$shell" = /usr/sbin/nologin ] || fail "shell is $shell, not /usr/sbin/nologin"
[ "$home" = "$STATE" ] || fail "home is $home, not $STATE"
group_line=$(getent group "$NAME") || fail "no group $NAME"
[ "$(cut -d: -f3 <<<"$group_line")" = "$gid" ] || fail "the user's primary group is not $NAME"
[ "$gid" -lt 1000 ] || fail "gid $gid is not a system gid"
ok "$NAME: system user $uid, group $gid, home $home, shell $shell"

step "the secret"
secret=$(cat "$SECRET")
[[ "$secret" =~ ^[0-9a-f]{64}$ ]] || fail "$SECRET is not 64 hex digits"
ok "$SECRET holds 64 hex digits"
expect_stat "$SECRET" "root:$NAME 640"

step "check-config as the service user"
must runuser -u "$NAME" -- "$NAME" check-config --config "$CONFIG"
ok "check-config passes as $NAME"
# The CLI's commands on the database, as the README says to run them: this makes the
# state (bridge.sqlite) that remove must keep and purge must delete.
must runuser -u "$NAME" -- "$NAME" platform list --config "$CONFIG"
[ -f "$STATE/bridge.sqlite" ] || fail "$STATE/bridge.sqlite was not made"
ok "$STATE/bridge.sqlite made by $NAME"

step "systemd-analyze verify"
must systemd-analyze verify "$UNIT"
ok "the unit verifies"

# --- upgrade over itself --------------------------------------------------------------

step "upgrade: dpkg -i over a changed config.toml and an enabled unit"
echo "# package-test $$: an administrator's edit" >>"$CONFIG"
edit=$(tail -n 1 "$CONFIG")
# Works without systemd running (symlinks only); purge must take the symlink away.
must systemctl enable "$NAME"
[ -L "$WANTS" ] || fail "systemctl enable made no $WANTS"
must dpkg -i "$DEB" </dev/null
[ "$(tail -n 1 "$CONFIG")" = "$edit" ] || fail "the edit of $CONFIG was lost"
ok "the edit of $CONFIG survived"
[ "$(cat "$SECRET")" = "$secret" ] || fail "$SECRET changed"
ok "$SECRET unchanged"
stray=$(find "$ETC" -name '*.dpkg-*' -o -name '*.ucf-*')
[ -z "$stray" ] || fail "left behind: $stray"
ok "no .dpkg-dist/.dpkg-new/.dpkg-old in $ETC"
expect_stat "$CONFIG" "root:$NAME 640"
expect_stat "$ETC" "root:$NAME 750"
[ -L "$WANTS" ] || fail "the upgrade disabled the unit"
ok "$NAME stays enabled"

# --- remove -------------------------------------------------------------------------

step "remove: dpkg -r"
must dpkg -r "$NAME" </dev/null
status=$(dpkg-query -W -f='${Status}' "$NAME")
[ "$status" = "deinstall ok config-files" ] || fail "dpkg says: $status"
ok "dpkg: $status"
expect_absent /usr/bin/$NAME
expect_absent "$UNIT"
expect_absent "$SHARE"
expect_absent "$MAN"
[ "$(tail -n 1 "$CONFIG" 2>/dev/null)" = "$edit" ] || fail "$CONFIG was not kept as edited"
ok "$CONFIG kept, with the edit"
[ "$(cat "$SECRET" 2>/dev/null)" = "$secret" ] || fail "$SECRET was not kept"
ok "$SECRET kept"
[ -f "$STATE/bridge.sqlite" ] || fail "$STATE/bridge.sqlite was not kept"
ok "$STATE/bridge.sqlite kept"
getent passwd "$NAME" >/dev/null || fail "the user $NAME is gone after remove"
ok "the user $NAME is kept"

# --- purge --------------------------------------------------------------------------

step "purge: dpkg -P"
must dpkg -P "$NAME" </dev/null
for path in "$ETC" "$STATE" "$SHARE" "$DOC" "$WANTS"; do expect_absent "$path"; done
left=$(leftovers)
[ -z "$left" ] || fail "purge left: $(tr '\n' ' ' <<<"$left")"
ok "no user, group, statoverride or systemd state left"
dpkg -s "$NAME" >/dev/null 2>&1 && fail "dpkg -s still knows $NAME"
ok "dpkg -s knows nothing of $NAME"
dpkg -L "$NAME" >/dev/null 2>&1 && fail "dpkg -L still lists $NAME"
ok "dpkg -L knows nothing of $NAME"
