#!/usr/bin/env bash
# Install nats-server (JetStream), which the async-call tests start on free ports
# (tests/gateway/async_calls; under CI=true they fail without it instead of skipping).
#
#   scripts/nats.sh          nothing to do when nats-server is on PATH already
#
# Only the binary is taken out of Debian's `nats-server` package (`apt-get download` and
# `dpkg -x`, deb_binary in scripts/common.sh), as scripts/promtool.sh does for promtool:
# installing the package could start a system NATS server on port 4222. Needs root, as
# scripts/engine.sh does.
#
# Environment:
#   NATS_DIR   where the binary goes   (/usr/local/bin)
set -euo pipefail
source "$(dirname "$0")/common.sh"

NATS_DIR=${NATS_DIR:-/usr/local/bin}

say() { echo "nats: $*" >&2; }

if command -v nats-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "not installed, and this is not root: run this script as root, or install Debian's" \
    "nats-server package (the async tests skip without it, and fail under CI=true)"
  exit 1
fi

deb_binary nats-server usr/sbin/nats-server "$NATS_DIR/nats-server"
"$NATS_DIR/nats-server" --version >&2
