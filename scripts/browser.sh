#!/usr/bin/env bash
# Install Debian's Chromium, the browser the web console's tests drive headless
# (tests/gateway/console, tests/e2e/test_console.py: Playwright with the system browser,
# never a downloaded one; under CI=true those tests fail without it).
#
#   scripts/browser.sh          nothing to do when chromium is on PATH already
#
# Needs root, as scripts/engine.sh (which runs it) does.
set -euo pipefail

say() { echo "browser: $*" >&2; }

if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  say "chromium is not installed, and this is not root: run this script as root, or" \
    "install Debian's chromium package (the console tests skip without it, and fail under CI=true)"
  exit 1
fi
say "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}
chromium --version >&2
