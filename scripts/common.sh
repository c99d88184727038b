# Shared by the scripts in this folder: settings with their defaults, and small helpers.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export STACK_NAME=${STACK_NAME:-func}
export FUNCTIONS_NETWORK=${FUNCTIONS_NETWORK:-functions}
export FAAS_GATEWAY_PORT=${FAAS_GATEWAY_PORT:-${GATEWAY_PORT:-8080}}  # GATEWAY_PORT: its old name
export PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
export FUNCTION_IMAGE_PREFIX=${FUNCTION_IMAGE_PREFIX:-localhost/faas}
# Images are tagged :latest and with a hash of their sources, so a redeploy after a
# change rolls the services even though `latest` never changes name.
FAAS_TAG=${FAAS_TAG:-$(cd "$ROOT" && find gateway watchdog sample-functions pyproject.toml \
  -type f ! -path '*/__pycache__/*' ! -name '*.md' ! -name '*.pyz' -print0 | sort -z | xargs -0 sha256sum \
  | sha256sum | cut -c1-12)}
export FAAS_TAG
export GATEWAY_IMAGE=$FUNCTION_IMAGE_PREFIX/gateway:$FAAS_TAG
export WATCHDOG_IMAGE=${WATCHDOG_IMAGE:-$FUNCTION_IMAGE_PREFIX/watchdog:$FAAS_TAG}
# What users pull, and what scripts/engine.sh builds where nothing can be pulled.
PUBLIC_BASE_IMAGE=python:3.12-slim
PUBLIC_PROMETHEUS_IMAGE=prom/prometheus:v2.55.1
PUBLIC_NATS_IMAGE=nats:2.10
export LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-local/python:3.11-bookworm}
export LOCAL_PROMETHEUS_IMAGE=${LOCAL_PROMETHEUS_IMAGE:-local/prometheus:bookworm}
export LOCAL_NATS_IMAGE=${LOCAL_NATS_IMAGE:-local/nats:bookworm}
SAMPLE_FUNCTIONS=(catservice wordcount base64 hostnameintent csvtojson httpecho)

say() { echo "faas: $*" >&2; }
die() { say "$*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

# The address a new swarm advertises: the default bridge's gateway, which containers on
# this machine reach (the extra nodes of `make cluster` join through it), else loopback.
swarm_address() {
  docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null \
    | grep -m1 . || echo 127.0.0.1
}

# Start the engine (via scripts/engine.sh) when none answers, saying so.
ensure_engine() {
  command -v docker >/dev/null 2>&1 || [ "$(id -u)" = 0 ] \
    || die "the docker command is missing: install Docker Engine (see README, Troubleshooting)"
  if ! engine_answers; then
    say "no Docker Engine answers: running scripts/engine.sh to install and start one"
    "$ROOT/scripts/engine.sh"
  fi
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    say "swarm mode is not active: initialising a single-node swarm"
    docker swarm init --advertise-addr "$(swarm_address)" >/dev/null
  fi
}

# Print $1 if it is present or can be pulled, else $2 (building it first when missing).
# Call it as `x=$(image_or_local ...) || die ...`: set -e does not reach into $(...).
image_or_local() {
  local wanted=$1 local_image=$2
  if docker image inspect "$wanted" >/dev/null 2>&1 || docker pull -q "$wanted" >/dev/null 2>&1; then
    echo "$wanted"
    return
  fi
  if ! docker image inspect "$local_image" >/dev/null 2>&1; then
    say "$wanted cannot be pulled here: building $local_image instead"
    "$ROOT/scripts/engine.sh" >&2 || return 1
  fi
  echo "$local_image"
}

# Install one binary out of a Debian package without installing the package (whose
# service would start on install): `apt-get download`, `dpkg -x`, then copy the binary.
# Needs root. Runs in a subshell, so the trap removes the download on any exit.
#   deb_binary PACKAGE PATH-IN-PACKAGE DESTINATION
deb_binary() (
  local package=$1 path=$2 destination=$3 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 777 "$work"  # apt downloads as its own user (_apt), which must write here
  say "installing $destination from Debian's $package package"
  export DEBIAN_FRONTEND=noninteractive
  cd "$work" || exit
  apt-get download -qq "$package" 2>/dev/null || { apt-get update -qq && apt-get download -qq "$package"; }
  dpkg -x "$work/$package"_*.deb "$work/root"
  install -D -m 0755 "$work/root/$path" "$destination"
)

# Poll a command until it succeeds or the deadline (seconds) passes.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "gave up after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 1
  done
}
