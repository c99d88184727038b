#!/usr/bin/env bash
# One command to a running platform: engine and swarm (started if absent), images,
# the `functions` network, `docker stack deploy`, then wait until the gateway and every
# sample function answer. Safe to run again: it redeploys what changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ensure_engine
"$ROOT/scripts/images.sh"
PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-$(image_or_local "$PUBLIC_PROMETHEUS_IMAGE" "$LOCAL_PROMETHEUS_IMAGE")}
export PROMETHEUS_IMAGE

if ! docker network inspect "$FUNCTIONS_NETWORK" >/dev/null 2>&1; then
  say "creating the attachable overlay network $FUNCTIONS_NETWORK"
  docker network create --driver overlay --attachable "$FUNCTIONS_NETWORK" >/dev/null
fi
PROMETHEUS_CONFIG_HASH=$(sha256sum "$ROOT/prometheus/prometheus.yml" | cut -c1-12)
export PROMETHEUS_CONFIG_HASH
say "deploying stack $STACK_NAME (Prometheus: $PROMETHEUS_IMAGE)"
(cd "$ROOT" && docker stack deploy --detach=true --resolve-image never -c stack.yml "$STACK_NAME" >/dev/null)

gateway=http://127.0.0.1:$GATEWAY_PORT
wait_until 180 "the gateway at $gateway/healthz" curl -fsS "$gateway/healthz"
for function in "${SAMPLE_FUNCTIONS[@]}"; do
  wait_until 180 "function $function" curl -fsS -X POST --data-binary '{}' "$gateway/function/$function"
done
wait_until 120 "Prometheus at 127.0.0.1:$PROMETHEUS_PORT" \
  curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"

cat <<TEXT
faas is up (stack $STACK_NAME):
  gateway     $gateway            (try: curl -X POST --data-binary @README.md $gateway/function/catservice)
  metrics     $gateway/metrics
  prometheus  http://127.0.0.1:$PROMETHEUS_PORT
TEXT
