#!/usr/bin/env bash
# Install promtool, which the unit tests use to check the gateway's /metrics exposition
# (tests/gateway/test_gateway_metrics.py; under CI=true that test fails without it).
#
#   scripts/promtool.sh          nothing to do when promtool is on PATH already
#
# Only the binary is taken out of Debian's `prometheus` package (`apt-get download` and
# `dpkg -x`, deb_binary in scripts/common.sh): installing the package would start a
# Prometheus server on port 9090, the port the stack's Prometheus listens on. Needs root,
# as scripts/engine.sh does.
#
# Environment:
#   PROMTOOL_DIR   where the binary goes   (/usr/local/bin)
set -euo pipefail
source "$(dirname "$0")/common.sh"

PROMTOOL_DIR=${PROMTOOL_DIR:-/usr/local/bin}

say() { echo "promtool: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "not installed, and this is not root: run this script as root, or install Debian's" \
    "prometheus package (the metrics test skips without promtool, and fails under CI=true)"
  exit 1
fi

deb_binary prometheus usr/bin/promtool "$PROMTOOL_DIR/promtool"
"$PROMTOOL_DIR/promtool" --version 2>&1 | head -1 >&2
