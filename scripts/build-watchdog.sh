#!/usr/bin/env bash
# Build the watchdog package (watchdog/fwatchdog/) into one file: a zipapp that runs on any
# python3 >= 3.9 with `python3 fwatchdog.pyz`. scripts/images.sh runs this before it builds
# watchdog/Dockerfile; the tests build their own copy and run that.
#
#   scripts/build-watchdog.sh [OUTPUT]     (default: watchdog/fwatchdog.pyz)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/watchdog/fwatchdog.pyz}
python=${PYTHON:-python3}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$root/watchdog/fwatchdog" "$stage/fwatchdog"
find "$stage" -name __pycache__ -type d -prune -exec rm -rf {} +
"$python" -m zipapp "$stage" --output "$out" --python "/usr/bin/env python3" \
  --main "fwatchdog.__main__:run" --compress
# Bytecode for the Python that builds it (the tests' and the benches'); the image replaces
# it with its own Python's (watchdog/Dockerfile). Another Python ignores it.
"$python" "$out" --precompile
