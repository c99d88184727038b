#!/usr/bin/env bash
# Install HAProxy, which bench scenario 6 runs as a reference reverse proxy beside Go's
# (bench/reference_proxy.py; without it those rows are "not run").
#
#   scripts/haproxy.sh       nothing to do when haproxy is on PATH already
#
# As scripts/mosquitto.sh does: only the binary is taken out of Debian's `haproxy`
# package (deb_binary in scripts/common.sh), since installing the package would start a
# system HAProxy; the libraries it links are installed as packages (libraries only:
# nothing starts). Needs root, as scripts/engine.sh does.
#
# Environment:
#   HAPROXY_DIR   where the binary goes   (/usr/local/bin)
set -euo pipefail
source "$(dirname "$0")/common.sh"

HAPROXY_DIR=${HAPROXY_DIR:-/usr/local/bin}
LIBRARIES=(libcrypt1 liblua5.3-0 libopentracing-c-wrapper0 libpcre2-8-0 libssl3 libsystemd0)

say() { echo "haproxy: $*" >&2; }

if command -v haproxy >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "not installed, and this is not root: run this script as root, or install Debian's" \
    "haproxy package (bench scenario 6 reports its HAProxy rows as not run without it)"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get install -qq -y --no-install-recommends "${LIBRARIES[@]}" >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -qq -y --no-install-recommends "${LIBRARIES[@]}" >/dev/null
}
deb_binary haproxy usr/sbin/haproxy "$HAPROXY_DIR/haproxy"
"$HAPROXY_DIR/haproxy" -v 2>&1 | head -1 >&2
