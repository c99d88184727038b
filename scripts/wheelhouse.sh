#!/usr/bin/env bash
# Fill wheels/ with binary wheels of the gateway's dependencies for the Python inside
# BASE_IMAGE, so `docker build` installs them with no package index reachable: the exact
# versions of requirements.lock, each wheel checked against the lock's hashes here and again
# in the image (README, "Dependencies").
#   scripts/wheelhouse.sh BASE_IMAGE
set -euo pipefail
source "$(dirname "$0")/common.sh"
base_image=${1:?usage: scripts/wheelhouse.sh BASE_IMAGE}
pip=${PIP:-$ROOT/.venv/bin/pip}
[ -x "$pip" ] || die "$pip is missing: run 'make venv' first"

target=$(docker run --rm --entrypoint python3 "$base_image" -c \
  'import platform, sys; print("%d.%d %s" % (sys.version_info[:2] + (platform.machine(),)))')
read -r python_version machine <<<"$target"

mkdir -p "$ROOT/wheels"
lock="$ROOT/requirements.lock"
stamp="$python_version $machine $(sha256sum "$lock" | cut -c1-16)"
if [ -f "$ROOT/wheels/requirements.lock" ] && [ "$(cat "$ROOT/wheels/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
say "downloading wheels for Python $python_version on $machine"
find "$ROOT/wheels" -name '*.whl' -delete
rm -f "$ROOT/wheels/requirements.txt" "$ROOT/wheels/.stamp"
"$pip" download --quiet --only-binary=:all: --dest "$ROOT/wheels" \
  --implementation cp --python-version "$python_version" \
  --platform "manylinux_2_28_$machine" --platform "manylinux_2_17_$machine" \
  --require-hashes -r "$lock"
cp "$lock" "$ROOT/wheels/requirements.lock"
echo "$stamp" >"$ROOT/wheels/.stamp"
