#!/usr/bin/env bash
# Install mosquitto (an MQTT broker), which the MQTT trigger tests start on free ports
# (tests/gateway/triggers/test_mqtt_source.py; under CI=true they fail without it instead
# of skipping).
#
#   scripts/mosquitto.sh     nothing to do when mosquitto is on PATH already
#
# As scripts/nats.sh does for nats-server: only the binary is taken out of Debian's
# `mosquitto` package (deb_binary in scripts/common.sh), since installing the package
# could start a system broker on port 1883; the libraries it links are installed as
# packages (libraries only: nothing starts). Needs root, as scripts/engine.sh does.
#
# Environment:
#   MOSQUITTO_DIR   where the binary goes   (/usr/local/bin)
set -euo pipefail
source "$(dirname "$0")/common.sh"

MOSQUITTO_DIR=${MOSQUITTO_DIR:-/usr/local/bin}
LIBRARIES=(libcjson1 libdlt2 libwrap0 libcap2 libssl3 libsystemd0)

say() { echo "mosquitto: $*" >&2; }

if command -v mosquitto >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "not installed, and this is not root: run this script as root, or install Debian's" \
    "mosquitto package (the MQTT tests skip without it, and fail under CI=true)"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get install -qq -y --no-install-recommends "${LIBRARIES[@]}" >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -qq -y --no-install-recommends "${LIBRARIES[@]}" >/dev/null
}
deb_binary mosquitto usr/sbin/mosquitto "$MOSQUITTO_DIR/mosquitto"
"$MOSQUITTO_DIR/mosquitto" -h 2>&1 | head -1 >&2 || true
