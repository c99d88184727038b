#!/usr/bin/env bash
# Bring up what the platform needs on a bare Debian/Ubuntu machine, run as root:
# Docker Engine, a single-node swarm, and -- for machines that cannot pull images --
# a local Python base image and local Prometheus and NATS images built from Debian
# packages; also promtool, nats-server and mosquitto, which the unit tests run
# (scripts/promtool.sh, scripts/nats.sh, scripts/mosquitto.sh), HAProxy, bench scenario 6's
# reference proxy (scripts/haproxy.sh), and Chromium, which the web console's tests drive (scripts/browser.sh).
#
#   scripts/engine.sh            engine + swarm + local images + promtool + chromium (idempotent)
#
# Environment:
#   LOCAL_BASE_IMAGE        tag of the local Python base   (local/python:3.11-bookworm)
#   LOCAL_PROMETHEUS_IMAGE  tag of the local Prometheus    (local/prometheus:bookworm)
#   LOCAL_NATS_IMAGE        tag of the local NATS server   (local/nats:bookworm)
#   LOCAL_FRONT_IMAGE       tag of the local HAProxy       (local/haproxy:bookworm)
#   LOCAL_MOSQUITTO_IMAGE   tag of the local Mosquitto     (local/mosquitto:bookworm)
#   LOCAL_DIND_IMAGE        tag of the node image          (local/dind:bookworm)
#   LOCAL_REGISTRY_IMAGE    tag of the local registry      (local/registry:bookworm)
#   DOCKERD_LOG             where dockerd writes its log   (/var/log/dockerd.log)
#
# Facts this relies on: Debian's docker.io runs here; iptables must be installed or the
# containers' embedded DNS does not answer; the kernel may lack IPVS (the stack uses
# dnsrr and host-mode ports, so it does not need it).
#   SWARM_ADVERTISE_ADDR    the address a new swarm advertises (found: scripts/common.sh)
set -euo pipefail
source "$(dirname "$0")/common.sh"

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

say() { echo "engine: $*" >&2; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

start_engine() {
  if engine_answers; then return; fi
  if [ "$(id -u)" != 0 ]; then
    say "no Docker Engine answers and this is not root: start Docker yourself (see README, Troubleshooting)"
    exit 1
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; then
    say "installing Debian's docker.io and iptables"
    apt_install docker.io iptables
  fi
  say "starting dockerd (log: $DOCKERD_LOG)"
  # Swarm would otherwise try to pull a tagged image before every task start, even one
  # that was built here (README, Security).
  DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  for _ in $(seq 1 90); do engine_answers && break; sleep 1; done
  if ! engine_answers; then
    say "dockerd did not come up; the end of $DOCKERD_LOG:"
    tail -20 "$DOCKERD_LOG" >&2
    exit 1
  fi
}

debian_mirror() {
  awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true
}

# Build an image from Debian packages with mmdebstrap (no registry needed), unless it
# exists already or the public image it stands in for ($3) can be pulled.
build_debian_image() {
  local tag=$1 packages=$2 public=$3; shift 3
  if docker image inspect "$tag" >/dev/null 2>&1; then return; fi
  if [ -n "$public" ] && { docker image inspect "$public" >/dev/null 2>&1 \
      || docker pull -q "$public" >/dev/null 2>&1; }; then
    return
  fi
  command -v mmdebstrap >/dev/null 2>&1 || apt_install mmdebstrap
  say "building $tag from Debian packages ($packages)"
  local tar mirror
  tar=$(mktemp --suffix=.tar)
  mirror=$(debian_mirror)
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    bookworm "$tar" ${mirror:+"$mirror"}
  docker import "$@" "$tar" "$tag" >/dev/null
  rm -f "$tar"
}

start_engine
ensure_swarm
build_debian_image "$LOCAL_BASE_IMAGE" python3-minimal,python3-pip,ca-certificates \
  python:3.12-slim --change 'CMD ["python3"]'
build_debian_image "$LOCAL_PROMETHEUS_IMAGE" prometheus,ca-certificates \
  prom/prometheus:v2.55.1 --change 'ENTRYPOINT ["/usr/bin/prometheus"]' --change 'WORKDIR /prometheus' \
  --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml","--storage.tsdb.path=/prometheus"]'
# Debian's nats-server 2.9 has JetStream; the stack passes its flags (-js -sd /data).
build_debian_image "$LOCAL_NATS_IMAGE" nats-server,ca-certificates \
  nats:2.10 --change 'ENTRYPOINT ["/usr/sbin/nats-server"]' --change 'EXPOSE 4222'
# The front before the gateways: Debian's HAProxy 2.6 (the stack names its own command).
build_debian_image "$LOCAL_FRONT_IMAGE" haproxy,ca-certificates "$PUBLIC_FRONT_IMAGE" \
  --change 'ENTRYPOINT ["/usr/sbin/haproxy"]'
# Mosquitto for MQTT triggers (`MQTT=1 make up`); its clients, for the e2e tests'
# publishes from inside the stack. stack.mqtt.yml sets the entrypoint and config.
build_debian_image "$LOCAL_MOSQUITTO_IMAGE" mosquitto,mosquitto-clients \
  eclipse-mosquitto:2 --change 'ENTRYPOINT ["/usr/sbin/mosquitto"]' --change 'EXPOSE 1883'
if [ "${1:-}" = "--cluster" ]; then
  # A node: Debian's docker.io, plus socat, which forwards the node's localhost:5000 to
  # the registry, so one image name works on every node (scripts/cluster.sh).
  build_debian_image "${LOCAL_DIND_IMAGE:-local/dind:bookworm}" \
    docker.io,iptables,iproute2,socat,ca-certificates,procps "" \
    --change 'ENTRYPOINT ["/usr/sbin/dockerd"]'
  build_debian_image "${LOCAL_REGISTRY_IMAGE:-local/registry:bookworm}" \
    docker-registry,ca-certificates registry:2 \
    --change 'ENTRYPOINT ["/usr/bin/docker-registry"]' \
    --change 'CMD ["serve","/etc/docker/registry/config.yml"]' --change 'EXPOSE 5000'
fi
if [ "$(id -u)" = 0 ]; then
  "$(dirname "$0")/promtool.sh"
  "$(dirname "$0")/nats.sh"
  "$(dirname "$0")/mosquitto.sh"
  "$(dirname "$0")/haproxy.sh"
  "$(dirname "$0")/browser.sh"
fi
say "up: Docker $(docker version --format '{{.Server.Version}}'), swarm $(docker info --format '{{.Swarm.LocalNodeState}}')"
