#!/usr/bin/env bash
# Fill wheels/ with binary wheels of the gateway's dependencies for the Python inside
# BASE_IMAGE, so `docker build` installs them with no package index reachable.
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
requirements="$ROOT/wheels/requirements.txt"
python3 - "$ROOT/pyproject.toml" >"$requirements.new" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as pyproject:
    print("\n".join(tomllib.load(pyproject)["project"]["dependencies"]))
PY
stamp="$python_version $machine $(sha256sum "$requirements.new" | cut -c1-16)"
if [ -f "$requirements" ] && [ "$(cat "$ROOT/wheels/.stamp" 2>/dev/null)" = "$stamp" ]; then
  rm -f "$requirements.new"
  exit 0
fi
mv "$requirements.new" "$requirements"
say "downloading wheels for Python $python_version on $machine"
find "$ROOT/wheels" -name '*.whl' -delete
"$pip" download --quiet --only-binary=:all: --dest "$ROOT/wheels" \
  --implementation cp --python-version "$python_version" \
  --platform "manylinux_2_28_$machine" --platform "manylinux_2_17_$machine" \
  -r "$requirements"
echo "$stamp" >"$ROOT/wheels/.stamp"
