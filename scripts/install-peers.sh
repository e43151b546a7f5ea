#!/bin/sh
# Installs the interop peers of test/interop (Debian/Ubuntu, as root): Chromium, Go with gorilla/websocket,
# and Python's websockets. Idempotent: when every package is already installed it only checks and exits.
# CI runs it before the tests; there, a missing peer fails its tests instead of skipping them.
set -eu

PACKAGES="chromium golang-go golang-github-gorilla-websocket-dev python3-websockets"

missing=""
for pkg in $PACKAGES; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing="$missing $pkg"
done

# What the tests run: fail here, loudly, rather than in the middle of the suite.
verify() {
  test -x /usr/bin/chromium
  test -x /usr/bin/go
  test -f /usr/share/gocode/src/github.com/gorilla/websocket/conn.go
  /usr/bin/python3 -c 'import websockets'
}

if [ -z "$missing" ]; then
  verify
  echo "install-peers: all present ($PACKAGES)"
  exit 0
fi

echo "install-peers: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y --no-install-recommends $PACKAGES
verify
echo "install-peers: done"
