#!/usr/bin/env bash
# Builds the Debian package of xmpp-game-bridge:
#   target/debian/xmpp-game-bridge_<version>_<arch>.deb
# with plain dpkg-deb (no debhelper, no cargo-deb). The maintainer scripts and the
# copyright file are in packaging/deb/; the unit is component-config/xmpp-game-bridge.service.
#
# Usage: scripts/build-deb.sh
#   BRIDGE_BIN=/path/to/xmpp-game-bridge  package this binary instead of running
#                                        `cargo build --release --locked`
#   SOURCE_DATE_EPOCH                    timestamps (default: the last commit's)
# Needs: dpkg-dev (dpkg-shlibdeps), binutils (strip), gzip.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=xmpp-game-bridge
MAINTAINER="xmpp-game-bridge maintainers <xmpp-game-bridge@example.org>"

die() { echo "build-deb: $*" >&2; exit 1; }

for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dpkg-dev binutils gzip)"
done

# The [package] table's version, and this machine's Debian architecture.
VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || die "no version in Cargo.toml's [package]"
ARCH=$(dpkg --print-architecture)
DESCRIPTION=$(sed -n '/^\[package\]/,/^\[/s/^description *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

if [ -n "${BRIDGE_BIN:-}" ]; then
    BIN=$BRIDGE_BIN
    [ -x "$BIN" ] || die "BRIDGE_BIN=$BIN is not an executable file"
else
    echo "== cargo build --release --locked"
    cargo build --release --locked
    BIN=target/release/$NAME
fi
# A binary of another version would be packaged under the wrong name.
bin_version=$("$BIN" --version | awk '{ print $2 }')
[ "$bin_version" = "$VERSION" ] || die "$BIN says version $bin_version, Cargo.toml $VERSION"

# Reproducible timestamps: dpkg-deb clamps every mtime to SOURCE_DATE_EPOCH.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# Scratch tree laid out as dpkg-shlibdeps expects it: build/debian/control, and the
# package's root in build/debian/<package>.
OUT=target/debian
BUILD=$OUT/build
ROOT=$BUILD/debian/$NAME
DEB=$OUT/${NAME}_${VERSION}_${ARCH}.deb
rm -rf "$BUILD"
umask 022
mkdir -p "$ROOT/DEBIAN"
echo "== staging $NAME $VERSION ($ARCH) in $ROOT"

# The binary, without symbols or the sections lintian objects to.
install -d "$ROOT/usr/bin" "$ROOT/usr/share/man/man1"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    -o "$ROOT/usr/bin/$NAME" "$BIN"
chmod 0755 "$ROOT/usr/bin/$NAME"

# The unit as it is in the repository: it is written for the package's paths.
UNIT=component-config/$NAME.service
grep -q "^ExecStart=/usr/bin/$NAME " "$UNIT" || die "$UNIT does not run /usr/bin/$NAME"
install -D -m 0644 "$UNIT" "$ROOT/lib/systemd/system/$NAME.service"

# The configuration: a conffile. Shipped 0644 root:root; postinst makes it (and its
# directory) root:$NAME 0640 (0750) with dpkg-statoverride, once the group exists.
install -D -m 0644 component-config/$NAME.toml "$ROOT/etc/$NAME/config.toml"
grep -q "^secret_file = \"/etc/$NAME/secret\"" "$ROOT/etc/$NAME/config.toml" \
    || die "component-config/$NAME.toml does not read /etc/$NAME/secret"
echo "/etc/$NAME/config.toml" >"$ROOT/DEBIAN/conffiles"

# The servers' snippets, the Grafana dashboard and the Prometheus alerting rules.
install -d "$ROOT/usr/share/$NAME"
install -m 0644 component-config/prosody.cfg.lua component-config/ejabberd.yml component-config/ejabberd-vm.args \
    component-config/mod_game_bridge_activity.lua docs/monitoring/grafana-dashboard.json \
    docs/monitoring/alerts.yml "$ROOT/usr/share/$NAME/"

# Documentation. README.md stays uncompressed: the unit's Documentation= points at it.
# The version has no Debian revision (a native package), so the Debian changelog is
# changelog.gz, as lintian (wrong-name-for-changelog-of-native-package) wants it.
DOC=$ROOT/usr/share/doc/$NAME
install -d "$DOC"
install -m 0644 packaging/deb/copyright README.md "$DOC/"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "$NAME ($VERSION) unstable; urgency=medium"
    echo
    echo "  * Built from $NAME $VERSION, git commit $commit."
    echo
    echo " -- $MAINTAINER  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
chmod 0644 "$DOC/changelog.gz"

# The manual page, made from the binary's own --help, so that it never lags behind it.
# roff: backslashes and hyphens escaped; a line starting with . or ' would be a request.
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/^\([.'"'"']\)/\\\&\1/'; }
commands=$("$BIN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | grep -vx help)
{
    echo ".TH XMPP\\-GAME\\-BRIDGE 1 \"$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)\" \"$NAME $VERSION\" \"User Commands\""
    echo ".SH NAME"
    echo "$(echo "$NAME" | roff) \\- XMPP component that connects game platforms with chat users"
    echo ".SH SYNOPSIS"
    echo ".B $(echo "$NAME" | roff)"
    echo ".I command"
    echo ".B \\-\\-config"
    echo ".I file"
    echo ".SH DESCRIPTION"
    echo "$DESCRIPTION." | roff
    echo ".SH COMMANDS"
    for command in $commands; do
        echo ".SS $(echo "$command" | roff)"
        echo ".nf"
        "$BIN" "$command" --help | roff
        echo ".fi"
    done
    echo ".SH FILES"
    echo ".TP"; echo "/etc/$NAME/config.toml" | roff; echo "The configuration, every key commented."
    echo ".TP"; echo "/etc/$NAME/secret" | roff; echo "The XEP\\-0114 secret shared with the server."
    echo ".TP"; echo "/var/lib/$NAME/" | roff; echo "The database."
    echo ".TP"; echo "/usr/share/$NAME/" | roff; echo "Configuration snippets for Prosody and ejabberd."
    echo ".SH SEE ALSO"
    echo "/usr/share/doc/$NAME/README.md" | roff
} | gzip -9n >"$ROOT/usr/share/man/man1/$NAME.1.gz"
chmod 0644 "$ROOT/usr/share/man/man1/$NAME.1.gz"

# Maintainer scripts.
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$ROOT/DEBIAN/"

# Shared-library dependencies, as dpkg-shlibdeps computes them for any package
# (libc6 and libgcc-s1 with the versions the binary's symbols need).
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" >"$BUILD/debian/control"
shlibs=$(cd "$BUILD" && dpkg-shlibdeps -O "debian/$NAME/usr/bin/$NAME" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependency"

# md5sums of every file but the conffiles (dpkg keeps theirs itself), as dh_md5sums does.
(
    cd "$ROOT"
    find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
        | grep -vxF -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -d '\n' md5sum
) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$ROOT" | cut -f1)
{
    echo "Package: $NAME"
    echo "Version: $VERSION"
    echo "Architecture: $ARCH"
    echo "Maintainer: $MAINTAINER"
    echo "Installed-Size: $installed_size"
    # procps: /bin/kill, the unit's ExecReload.
    echo "Depends: $shlibs, adduser, procps"
    echo "Section: net"
    echo "Priority: optional"
    echo "Description: XMPP component that connects game platforms with chat users"
    # The long description: Cargo.toml's, then what the package does on install.
    {
        echo "$DESCRIPTION."
        echo
        echo "The package installs the service but neither enables nor starts it: set" \
            "the component's name and the server's domains in /etc/$NAME/config.toml" \
            "and give the server the secret made in /etc/$NAME/secret first."
    } | fold -s -w 72 | sed -e 's/ *$//' -e 's/^$/./' -e 's/^/ /'
} >"$ROOT/DEBIAN/control"

mkdir -p "$OUT"
rm -f "$DEB"
dpkg-deb --build --root-owner-group "$ROOT" "$DEB" >/dev/null
echo "== built $DEB"
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'
