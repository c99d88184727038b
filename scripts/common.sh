# Shared by the scripts in this folder: settings with their defaults, and small helpers.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export STACK_NAME=${STACK_NAME:-func}
export FUNCTIONS_NETWORK=${FUNCTIONS_NETWORK:-functions}
# The functions network's address range when `make up` creates it (one address per
# running replica); choose another if it overlaps a network your hosts use.
export FUNCTIONS_SUBNET=${FUNCTIONS_SUBNET:-10.208.0.0/20}
export FAAS_GATEWAY_PORT=${FAAS_GATEWAY_PORT:-${GATEWAY_PORT:-8080}}  # GATEWAY_PORT: its old name
export PROMETHEUS_PORT=${PROMETHEUS_PORT:-}  # empty: Prometheus is not published
export MQTT=${MQTT:-}  # non-empty: the stack runs Mosquitto too (stack.mqtt.yml)
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
# The front (stack.yml): HAProxy's long-term-support line, pinned.
PUBLIC_FRONT_IMAGE=haproxy:3.2
export LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-local/python:3.11-bookworm}
export LOCAL_PROMETHEUS_IMAGE=${LOCAL_PROMETHEUS_IMAGE:-local/prometheus:bookworm}
export LOCAL_NATS_IMAGE=${LOCAL_NATS_IMAGE:-local/nats:bookworm}
export LOCAL_FRONT_IMAGE=${LOCAL_FRONT_IMAGE:-local/haproxy:bookworm}
PUBLIC_MOSQUITTO_IMAGE=eclipse-mosquitto:2
export LOCAL_MOSQUITTO_IMAGE=${LOCAL_MOSQUITTO_IMAGE:-local/mosquitto:bookworm}
SAMPLE_FUNCTIONS=(catservice wordcount base64 hostnameintent csvtojson httpecho)
# Job functions (docs/jobs.md): built and pushed like the others, never called sync by up.sh.
SAMPLE_JOBS=(sha256job)

say() { echo "faas: $*" >&2; }
die() { say "$*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

# The first IPv4 address of an interface, or nothing.
interface_ipv4() {
  { ip -4 -o addr show dev "$1" 2>/dev/null || true; } | awk '{split($4, a, "/"); print a[1]; exit}'
}

# An IPv4 address that is not loopback: other nodes could reach it.
reachable_ipv4() { [[ ${1:-} =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && [[ $1 != 127.* ]]; }

# The address a swarm advertises so that other nodes (the engines in containers of
# `make cluster`) can join it: the default bridge's gateway when the engine reports one
# (an optional field: some engines leave it out), else docker0's address, else the
# address of the interface holding the default route. Never loopback: with none of these
# it says so and fails.
swarm_address() {
  local candidate device
  for candidate in $(docker network inspect bridge \
      --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}' 2>/dev/null); do
    if reachable_ipv4 "$candidate"; then echo "$candidate"; return; fi
  done
  candidate=$(interface_ipv4 docker0)
  if reachable_ipv4 "$candidate"; then echo "$candidate"; return; fi
  device=$({ ip -4 route show default 2>/dev/null || true; } \
    | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  if [ -n "$device" ]; then
    candidate=$(interface_ipv4 "$device")
    if reachable_ipv4 "$candidate"; then echo "$candidate"; return; fi
  fi
  say "no address other nodes can reach: the bridge network reports no gateway, docker0" \
    "has no IPv4 address and no interface holds a default route. Give one with" \
    "SWARM_ADVERTISE_ADDR=<an IPv4 address of this machine>"
  return 1
}

# What a swarm holds that our scripts did not create: other nodes than this one, and
# services that are neither in our stack nor deployed through the gateway. One per line.
swarm_foreign_content() {
  local node service labels
  for node in $(docker node ls --format '{{.Self}} {{.Hostname}}' | awk '$1 != "true" {print $2}'); do
    echo "node $node"
  done
  for service in $(docker service ls --format '{{.Name}}'); do
    labels=$(docker service inspect "$service" --format \
      '{{index .Spec.Labels "com.docker.stack.namespace"}} {{index .Spec.Labels "com.faas.managed"}}')
    case "$labels" in
      "$STACK_NAME "*|*" true") ;;
      *) echo "service $service" ;;
    esac
  done
}

swarm_init() {
  local address=${SWARM_ADVERTISE_ADDR:-}
  if [ -z "$address" ]; then address=$(swarm_address) || return 1; fi
  say "initialising a single-node swarm that advertises $address"
  docker swarm init --advertise-addr "$address" >/dev/null
}

# Swarm mode on, advertising an address other nodes reach. A swarm made on loopback (by
# the scripts before they looked past the bridge's optional gateway field) is made again
# when it holds only what our scripts created; otherwise this says what to run.
ensure_swarm() {
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    swarm_init || die "cannot initialise the swarm"
    return
  fi
  local current foreign
  current=$(docker info --format '{{.Swarm.NodeAddr}}')
  case "$current" in 127.*) ;; *) return ;; esac
  foreign=$(swarm_foreign_content)
  if [ -n "$foreign" ]; then
    die "this swarm advertises $current, which other nodes cannot reach, and holds what" \
      "faas did not create: $(echo "$foreign" | paste -sd, -). Move that elsewhere, then" \
      "re-create the swarm (this removes every service): docker swarm leave --force && scripts/engine.sh"
  fi
  say "this swarm advertises $current, which other nodes cannot reach, and holds only faas's" \
    "own services: re-creating it (\`make up\` deploys the stack again)"
  docker swarm leave --force >/dev/null
  swarm_init || die "cannot initialise the swarm"
}

# Start the engine (via scripts/engine.sh) when none answers, saying so.
ensure_engine() {
  command -v docker >/dev/null 2>&1 || [ "$(id -u)" = 0 ] \
    || die "the docker command is missing: install Docker Engine (see README, Troubleshooting)"
  if ! engine_answers; then
    say "no Docker Engine answers: running scripts/engine.sh to install and start one"
    "$ROOT/scripts/engine.sh"
  fi
  ensure_swarm
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

# Print PUBLIC if it is here or can be pulled, else LOCAL if it was built before; fail
# (printing nothing) if neither, so the caller builds LOCAL (node-base.sh, go-base.sh).
#   present_image PUBLIC LOCAL
present_image() {
  local public=$1 local_image=$2
  if docker image inspect "$public" >/dev/null 2>&1 || docker pull -q "$public" >/dev/null 2>&1; then
    echo "$public"
  elif docker image inspect "$local_image" >/dev/null 2>&1; then
    echo "$local_image"
  else
    return 1
  fi
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
