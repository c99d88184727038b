#!/usr/bin/env bash
# A local multi-node swarm: extra worker nodes on this machine, each a Docker Engine in a
# container (docker-in-docker from Debian's docker.io), joined to this machine's swarm,
# and a registry they pull function images from.
#
#   scripts/cluster.sh up      start the registry and the nodes, join them (idempotent)
#   scripts/cluster.sh down    nodes leave and are removed, the registry too
#   scripts/cluster.sh status  the swarm's nodes
#
# After `up`, build and push the images with the registry's prefix and deploy:
#   FUNCTION_IMAGE_PREFIX=localhost:5000/faas make up
#
# Environment:
#   FAAS_CLUSTER_NODES  how many worker nodes             (2)
#   FAAS_REGISTRY_PORT  the registry's port, on 127.0.0.1 and the bridge   (5000)
#   DIND_IMAGE          the node image                    (local/dind:bookworm, built here)
#   REGISTRY_IMAGE      the registry image                (registry:2, else built here)
#
# Needs root (or the docker group) and a swarm that advertises an address containers
# reach (scripts/common.sh: swarm_address finds one, and a loopback swarm holding only
# faas's services is re-created). Everything it makes is named faas-node-<n> /
# faas-registry and lives on this machine's bridge.
set -euo pipefail
source "$(dirname "$0")/common.sh"

NODES=${FAAS_CLUSTER_NODES:-2}
REGISTRY_PORT=${FAAS_REGISTRY_PORT:-5000}
DIND_IMAGE=${DIND_IMAGE:-local/dind:bookworm}
REGISTRY=faas-registry

manager_address() { docker info --format '{{.Swarm.NodeAddr}}'; }
node_names() { docker ps -a --filter "label=faas.cluster.node" --format '{{.Names}}' | sort; }

registry_image() {
  if [ -n "${REGISTRY_IMAGE:-}" ]; then echo "$REGISTRY_IMAGE"; return; fi
  image_or_local registry:2 "${LOCAL_REGISTRY_IMAGE:-local/registry:bookworm}"
}

start_registry() {
  if [ "$(docker inspect -f '{{.State.Running}}' "$REGISTRY" 2>/dev/null)" = true ]; then return; fi
  docker rm -f "$REGISTRY" >/dev/null 2>&1 || true
  local image address
  image=$(registry_image) || die "no registry image"
  address=$(manager_address)
  # On loopback for this engine's pushes (localhost needs no TLS), and on the bridge's
  # gateway for the nodes, whose localhost:$REGISTRY_PORT forwards there.
  docker run -d --name "$REGISTRY" --restart unless-stopped \
    -p "127.0.0.1:$REGISTRY_PORT:5000" -p "$address:$REGISTRY_PORT:5000" \
    -v "$ROOT/cluster/registry.yml:/etc/docker/registry/config.yml:ro" \
    -v faas-registry-data:/var/lib/registry \
    --entrypoint "" "$image" sh -c \
    'exec "$(command -v registry || command -v docker-registry)" serve /etc/docker/registry/config.yml' \
    >/dev/null
  wait_until 30 "the registry on 127.0.0.1:$REGISTRY_PORT" \
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$REGISTRY_PORT/v2/', timeout=2)"
  say "registry on localhost:$REGISTRY_PORT ($image)"
}

node_engine_answers() { docker exec "$1" docker info >/dev/null 2>&1; }

start_node() {
  local name=$1 address=$2 token=$3
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    # What a Docker Engine needs in a container. Not --privileged: that asks for every
    # capability, and a machine whose engine lacks one (CAP_SYS_RESOURCE, in some
    # sandboxes) refuses it. The cgroup tree is mounted writable so the node's containers
    # get cgroups, under /<name> (the node's own parent, apart from this engine's).
    docker run -d --name "$name" --hostname "$name" --label faas.cluster.node=1 \
      --cap-add ALL --cap-drop SYS_RESOURCE \
      --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      --security-opt systempaths=unconfined \
      -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v "$name-data:/var/lib/docker" \
      --entrypoint sh "$DIND_IMAGE" -c \
      "socat TCP-LISTEN:$REGISTRY_PORT,fork,reuseaddr TCP:$address:$REGISTRY_PORT &
       exec dockerd --cgroup-parent /$name" >/dev/null
  fi
  wait_until 60 "the engine in $name" node_engine_answers "$name"
  if [ "$(docker exec "$name" docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    local own
    own=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
    docker exec "$name" docker swarm join --advertise-addr "$own" --token "$token" \
      "$address:2377" >/dev/null
  fi
}

node_ready() {
  [ "$(docker node inspect "$1" --format '{{.Status.State}}' 2>/dev/null)" = ready ]
}

up() {
  ensure_engine
  local address
  address=$(manager_address)
  # ensure_engine re-creates a loopback swarm of ours; SWARM_ADVERTISE_ADDR may still name one.
  reachable_ipv4 "$address" || die "this swarm advertises $address, which other nodes cannot" \
    "reach. Re-create it (this removes every service):" \
    "docker swarm leave --force && scripts/engine.sh"
  "$ROOT/scripts/engine.sh" --cluster >/dev/null
  start_registry
  local token
  token=$(docker swarm join-token -q worker)
  for n in $(seq 1 "$NODES"); do
    start_node "faas-node-$n" "$address" "$token"
  done
  for n in $(seq 1 "$NODES"); do
    wait_until 60 "faas-node-$n to be ready in the swarm" node_ready "faas-node-$n"
  done
  say "cluster up: $(docker node ls --format '{{.Hostname}}' | sort | tr '\n' ' ')"
  say "images for it: FUNCTION_IMAGE_PREFIX=localhost:$REGISTRY_PORT/faas make up"
}

down() {
  engine_answers || die "no Docker Engine answers: nothing to take down"
  local name
  for name in $(node_names); do
    docker exec "$name" docker swarm leave --force >/dev/null 2>&1 || true
    docker rm -f "$name" >/dev/null
    docker volume rm "$name-data" >/dev/null 2>&1 || true
  done
  # Nodes that left (or whose container was killed) stay listed as down until removed.
  for name in $(docker node ls --format '{{.Hostname}} {{.ID}}' | awk '/^faas-node-/ {print $2}'); do
    docker node rm --force "$name" >/dev/null 2>&1 || true
  done
  docker rm -f "$REGISTRY" >/dev/null 2>&1 || true
  say "cluster down"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) docker node ls ;;
  *) die "usage: scripts/cluster.sh up|down|status" ;;
esac
