#!/bin/sh
# Installs the real peers and parts the tests start themselves (Debian/Ubuntu, as root): Chromium, Go with
# gorilla/websocket and Python's websockets (interop); redis-server (the Redis broker); squid, tinyproxy,
# dante-server and microsocks (the client's proxy support); openssl (throw-away TLS certificates). Each test
# starts its own on a free loopback port with a throw-away config. Idempotent: when every package is already
# installed it only checks and exits. CI runs it before the tests; there, a missing peer fails its tests
# instead of skipping them.
set -eu

PACKAGES="chromium golang-go golang-github-gorilla-websocket-dev python3-websockets redis-server squid tinyproxy dante-server microsocks openssl"

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
  test -x /usr/bin/redis-server
  test -x /usr/sbin/squid
  test -x /usr/bin/tinyproxy
  test -x /usr/sbin/danted
  test -x /usr/bin/microsocks
  test -x /usr/bin/openssl
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
# Package scripts may start the daemons on their default ports; the tests want none of them running.
for svc in redis-server squid tinyproxy danted; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
verify
echo "install-peers: done"
