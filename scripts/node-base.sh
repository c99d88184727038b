#!/usr/bin/env bash
# The node template's runtime image (its BASE_IMAGE build argument), printed on stdout:
# node:20-slim when it is here or can be pulled; else local/node:20-bookworm, built here
# from the local Python base (scripts/engine.sh) and this machine's own `node` binary and
# the shared libraries it needs that the base lacks. For machines that cannot pull images
# (docs/templates.md, "What builds offline").
#
#   faas build --build-arg BASE_IMAGE="$(scripts/node-base.sh)"
#
# Environment: PUBLIC_NODE_IMAGE (node:20-slim), LOCAL_NODE_IMAGE (local/node:20-bookworm),
# NODE (the node binary to copy; default: `node` on PATH).
set -euo pipefail
source "$(dirname "$0")/common.sh"

public=${PUBLIC_NODE_IMAGE:-node:20-slim}
local_image=${LOCAL_NODE_IMAGE:-local/node:20-bookworm}
present_image "$public" "$local_image" && exit 0
node=${NODE:-$(command -v node || true)}
[ -n "$node" ] && [ -x "$node" ] || die "$public cannot be pulled and there is no node binary here to build $local_image from (set NODE=/path/to/node)"
base=$(image_or_local "$PUBLIC_BASE_IMAGE" "$LOCAL_BASE_IMAGE") \
  || die "no Python base image to build $local_image on"
say "$public cannot be pulled here: building $local_image from $base and $node ($("$node" --version))"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -L "$node" "$stage/node"
mkdir -p "$stage/libs"
# The libraries at the paths this machine has them; the image gets only those it lacks.
for lib in $(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
  cp -L --parents "$lib" "$stage/libs/"
done
cat >"$stage/Dockerfile" <<EOF
FROM $base
COPY node /usr/local/bin/node
COPY libs/ /tmp/node-libs/
RUN cd /tmp/node-libs && for lib in \$(find . -type f); do \\
      [ -e "/\$lib" ] || { mkdir -p "\$(dirname "/\$lib")" && cp "\$lib" "/\$lib"; }; \\
    done \\
    && rm -rf /tmp/node-libs && ldconfig && node --version
EOF
docker build --quiet -t "$local_image" "$stage" >/dev/null || die "building $local_image failed"
echo "$local_image"
