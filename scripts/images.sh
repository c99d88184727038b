#!/usr/bin/env bash
# Build every image of the platform: localhost/faas/watchdog (the base of every function), the
# sample functions and localhost/faas/gateway. BASE_IMAGE defaults to python:3.12-slim, or to a
# local Debian+python3 image where nothing can be pulled.
set -euo pipefail
source "$(dirname "$0")/common.sh"

base_image=${BASE_IMAGE:-}
if [ -z "$base_image" ]; then
  base_image=$(image_or_local "$PUBLIC_BASE_IMAGE" "$LOCAL_BASE_IMAGE") \
    || die "no base image: $PUBLIC_BASE_IMAGE cannot be pulled and $LOCAL_BASE_IMAGE cannot be built"
fi
say "building images on $base_image"

# The commit the images are built from, `-dirty` when the sources differ from it
# (`unknown` outside a git checkout): the gateway's /system/info reports it.
source_commit() {
  local sha
  sha=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
  if [ -n "$(git -C "$ROOT" status --porcelain -- gateway watchdog pyproject.toml 2>/dev/null)" ]; then
    sha=$sha-dirty
  fi
  echo "$sha"
}

# Tag $1 (name:tag) also as name:latest, then build with the remaining arguments.
# Quiet unless the build fails (the legacy builder's deprecation notice is noise here).
build() {
  local image=$1 output; shift
  if ! output=$(docker build --quiet -t "$image" -t "${image%:*}:latest" "$@" 2>&1); then
    printf '%s\n' "$output" >&2
    die "building $image failed"
  fi
}

"$ROOT/scripts/build-watchdog.sh" "$ROOT/watchdog/fwatchdog.pyz"
build "$WATCHDOG_IMAGE" --build-arg BASE_IMAGE="$base_image" "$ROOT/watchdog"
for function in "${SAMPLE_FUNCTIONS[@]}" "${SAMPLE_JOBS[@]}"; do
  build "$FUNCTION_IMAGE_PREFIX/$function:$FAAS_TAG" --build-arg WATCHDOG_IMAGE="$WATCHDOG_IMAGE" \
    "$ROOT/sample-functions/$function"
done
"$ROOT/scripts/wheelhouse.sh" "$base_image"
build "$GATEWAY_IMAGE" --build-arg BASE_IMAGE="$base_image" --build-arg GIT_SHA="$(source_commit)" \
  -f "$ROOT/gateway/Dockerfile" "$ROOT"
say "built $WATCHDOG_IMAGE, $GATEWAY_IMAGE, ${#SAMPLE_FUNCTIONS[@]} sample functions and ${#SAMPLE_JOBS[@]} job"

# A prefix that names a registry (a host with a port or a dot, as localhost:5000/faas or
# registry.example.com/team): push, so every node of a multi-node swarm can pull them.
registry=${FUNCTION_IMAGE_PREFIX%%/*}
if [ "$registry" != "$FUNCTION_IMAGE_PREFIX" ] && [[ $registry == *[:.]* ]]; then
  started=$SECONDS
  for image in "$WATCHDOG_IMAGE" "$GATEWAY_IMAGE" \
    "${SAMPLE_FUNCTIONS[@]/#/$FUNCTION_IMAGE_PREFIX/}" "${SAMPLE_JOBS[@]/#/$FUNCTION_IMAGE_PREFIX/}"; do
    image=${image%:"$FAAS_TAG"}:$FAAS_TAG
    docker push --quiet "$image" >/dev/null || die "pushing $image to $registry failed"
    docker push --quiet "${image%:*}:latest" >/dev/null || die "pushing ${image%:*}:latest failed"
  done
  say "pushed to $registry in $((SECONDS - started))s"
fi
