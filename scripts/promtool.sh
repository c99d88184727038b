#!/usr/bin/env bash
# Install promtool, which the unit tests use to check the gateway's /metrics exposition
# (tests/gateway/test_gateway_metrics.py; under CI=true that test fails without it).
#
#   scripts/promtool.sh          nothing to do when promtool is on PATH already
#
# Only the binary is taken out of Debian's `prometheus` package (`apt-get download` and
# `dpkg -x`): installing the package would start a Prometheus server on port 9090, the
# port the stack's Prometheus publishes. Needs root, as scripts/engine.sh does.
#
# Environment:
#   PROMTOOL_DIR   where the binary goes   (/usr/local/bin)
set -euo pipefail

PROMTOOL_DIR=${PROMTOOL_DIR:-/usr/local/bin}

say() { echo "promtool: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "not installed, and this is not root: run this script as root, or install Debian's" \
    "prometheus package (the metrics test skips without promtool, and fails under CI=true)"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"  # apt downloads as its own user (_apt), which must write here
say "installing $PROMTOOL_DIR/promtool from Debian's prometheus package"
export DEBIAN_FRONTEND=noninteractive
(cd "$work" && { apt-get download -qq prometheus 2>/dev/null || {
  apt-get update -qq && apt-get download -qq prometheus; }; })
dpkg -x "$work"/prometheus_*.deb "$work/root"
install -D -m 0755 "$work/root/usr/bin/promtool" "$PROMTOOL_DIR/promtool"
"$PROMTOOL_DIR/promtool" --version 2>&1 | head -1 >&2
