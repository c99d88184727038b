#!/usr/bin/env bash
# The golang-http template's build image (its GO_IMAGE build argument), printed on stdout:
# golang:1.22 when it is here or can be pulled; else local/golang:bookworm, built here from
# the local Python base (scripts/engine.sh) and Debian's Go toolchain (the golang-1.19-go
# and golang-1.19-src packages, downloaded with apt and unpacked, not installed). For
# machines that cannot pull images (docs/templates.md, "What builds offline").
#
#   faas build --build-arg GO_IMAGE="$(scripts/go-base.sh)"
#
# Environment: PUBLIC_GO_IMAGE (golang:1.22), LOCAL_GO_IMAGE (local/golang:bookworm),
# GO_PACKAGE_VERSION (1.19: Debian bookworm's).
set -euo pipefail
source "$(dirname "$0")/common.sh"

public=${PUBLIC_GO_IMAGE:-golang:1.22}
local_image=${LOCAL_GO_IMAGE:-local/golang:bookworm}
version=${GO_PACKAGE_VERSION:-1.19}
present_image "$public" "$local_image" && exit 0
base=$(image_or_local "$PUBLIC_BASE_IMAGE" "$LOCAL_BASE_IMAGE") \
  || die "no base image to build $local_image on"
say "$public cannot be pulled here: building $local_image from $base and Debian's Go $version"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 777 "$stage"  # apt downloads as its own user (_apt), which must write here
(
  cd "$stage"
  export DEBIAN_FRONTEND=noninteractive
  for package in "golang-$version-go" "golang-$version-src"; do
    apt-get download -qq "$package" 2>/dev/null \
      || { apt-get update -qq && apt-get download -qq "$package"; }
    dpkg -x "$stage/$package"_*.deb "$stage/root"
  done
) >&2 || die "cannot download Debian's Go $version packages"
cat >"$stage/Dockerfile" <<DOCKERFILE
FROM $base
COPY root/usr/lib/go-$version /usr/lib/go-$version
COPY root/usr/share/go-$version /usr/share/go-$version
ENV PATH=/usr/lib/go-$version/bin:\$PATH GOPATH=/go GOCACHE=/tmp/go-cache GOFLAGS=-mod=mod
RUN go version
DOCKERFILE
docker build --quiet -t "$local_image" "$stage" >/dev/null || die "building $local_image failed"
echo "$local_image"
