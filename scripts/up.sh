#!/usr/bin/env bash
# One command to a running platform: engine and swarm (started if absent), images,
# the `functions` network, `docker stack deploy`, then wait until the gateway and every
# sample function answer. Safe to run again: it redeploys what changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ensure_engine
"$ROOT/scripts/images.sh"
if [ -z "${PROMETHEUS_IMAGE:-}" ]; then
  PROMETHEUS_IMAGE=$(image_or_local "$PUBLIC_PROMETHEUS_IMAGE" "$LOCAL_PROMETHEUS_IMAGE") \
    || die "no Prometheus image: $PUBLIC_PROMETHEUS_IMAGE cannot be pulled and" \
      "$LOCAL_PROMETHEUS_IMAGE cannot be built"
fi
export PROMETHEUS_IMAGE
if [ -z "${NATS_IMAGE:-}" ]; then
  NATS_IMAGE=$(image_or_local "$PUBLIC_NATS_IMAGE" "$LOCAL_NATS_IMAGE") \
    || die "no NATS image: $PUBLIC_NATS_IMAGE cannot be pulled and $LOCAL_NATS_IMAGE cannot be built"
fi
export NATS_IMAGE
if [ -z "${FRONT_IMAGE:-}" ]; then
  FRONT_IMAGE=$(image_or_local "$PUBLIC_FRONT_IMAGE" "$LOCAL_FRONT_IMAGE") \
    || die "no HAProxy image for the front: $PUBLIC_FRONT_IMAGE cannot be pulled and" \
      "$LOCAL_FRONT_IMAGE cannot be built"
fi
export FRONT_IMAGE
# Two gateway replicas where there are two manager nodes to spread them over (each
# reaches the engine's API through its node's socket), one on a single node: a gateway
# update still loses no call there (it starts the new replica first; docs/architecture.md).
if [ -z "${GATEWAY_REPLICAS:-}" ]; then
  managers=$(docker node ls --filter role=manager --format '{{.ID}}' | wc -l)
  GATEWAY_REPLICAS=$((managers >= 2 ? 2 : 1))
fi
export GATEWAY_REPLICAS
if [ -n "$MQTT" ] && [ -z "${MOSQUITTO_IMAGE:-}" ]; then
  MOSQUITTO_IMAGE=$(image_or_local "$PUBLIC_MOSQUITTO_IMAGE" "$LOCAL_MOSQUITTO_IMAGE") \
    || die "no Mosquitto image: $PUBLIC_MOSQUITTO_IMAGE cannot be pulled and" \
      "$LOCAL_MOSQUITTO_IMAGE cannot be built"
fi
export MOSQUITTO_IMAGE=${MOSQUITTO_IMAGE:-}

# Every running replica takes one address of the functions network (services are dnsrr:
# no VIP), so its size bounds the replicas: Docker's default /24 holds ~250, the /20 made
# here ~4,000 (docs/cluster.md, "How many functions").
if ! docker network inspect "$FUNCTIONS_NETWORK" >/dev/null 2>&1; then
  say "creating the attachable overlay network $FUNCTIONS_NETWORK ($FUNCTIONS_SUBNET)"
  docker network create --driver overlay --attachable --subnet "$FUNCTIONS_SUBNET" \
    "$FUNCTIONS_NETWORK" >/dev/null
else
  subnet=$(docker network inspect "$FUNCTIONS_NETWORK" --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}')
  case $subnet in
    */2[1-9]\ * | */3[0-2]\ *)
      say "note: network $FUNCTIONS_NETWORK is ${subnet% }: it holds at most" \
        "$(( (1 << (32 - ${subnet##*/})) - 6 )) running replicas; \`scripts/down.sh --network\`" \
        "and \`make up\` recreate it as $FUNCTIONS_SUBNET" ;;
  esac
fi
# The management API's credentials: files in secrets/ (git-ignored, 0600) that the stack
# turns into Docker secrets named after their content, so a new password rolls the
# gateway. Generated once (user admin, a random password) unless FAAS_BASIC_AUTH_USER /
# FAAS_BASIC_AUTH_PASSWORD choose them.
secrets_dir="$ROOT/secrets"
(umask 077 && mkdir -p "$secrets_dir")
if [ ! -s "$secrets_dir/basic-auth-user" ] || [ -n "${FAAS_BASIC_AUTH_USER:-}" ]; then
  (umask 077 && printf '%s' "${FAAS_BASIC_AUTH_USER:-admin}" >"$secrets_dir/basic-auth-user")
fi
if [ ! -s "$secrets_dir/basic-auth-password" ] || [ -n "${FAAS_BASIC_AUTH_PASSWORD:-}" ]; then
  password=${FAAS_BASIC_AUTH_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}
  (umask 077 && printf '%s' "$password" >"$secrets_dir/basic-auth-password")
  say "management API credentials written to secrets/basic-auth-user and secrets/basic-auth-password"
fi
BASIC_AUTH_HASH=$(cat "$secrets_dir/basic-auth-user" "$secrets_dir/basic-auth-password" \
  | sha256sum | cut -c1-12)
export BASIC_AUTH_HASH
export GATEWAY_IMAGE_ALLOWLIST=${GATEWAY_IMAGE_ALLOWLIST:-$FUNCTION_IMAGE_PREFIX/}

PROMETHEUS_CONFIG_HASH=$(sha256sum "$ROOT/prometheus/prometheus.yml" | cut -c1-12)
FRONT_CONFIG_HASH=$(sha256sum "$ROOT/front/haproxy.cfg" | cut -c1-12)
MOSQUITTO_CONFIG_HASH=$(sha256sum "$ROOT/mosquitto/mosquitto.conf" | cut -c1-12)
export PROMETHEUS_CONFIG_HASH FRONT_CONFIG_HASH MOSQUITTO_CONFIG_HASH
say "deploying stack $STACK_NAME (front: $FRONT_IMAGE, $GATEWAY_REPLICAS gateway replica(s)," \
  "Prometheus: $PROMETHEUS_IMAGE, NATS: $NATS_IMAGE${MQTT:+, Mosquitto: $MOSQUITTO_IMAGE})"
compose_files=(-c stack.yml)
if [ -n "$PROMETHEUS_PORT" ]; then
  compose_files+=(-c stack.prometheus-port.yml)  # published only when asked for
fi
if [ -n "$MQTT" ]; then
  compose_files+=(-c stack.mqtt.yml)  # Mosquitto only when asked for (NATS always)
fi
(cd "$ROOT" && docker stack deploy --detach=true --resolve-image never "${compose_files[@]}" \
  "$STACK_NAME" >/dev/null)

# Every task that should run, runs the service's current image: otherwise the checks
# below could be answered by the tasks a redeploy is about to replace.
service_converged() {
  local service=$1 image replicas
  read -r image replicas < <(docker service inspect --format \
    '{{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}1{{end}}' \
    "$service")
  [ "$replicas" = 0 ] && return 0
  docker service ps --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' "$service" \
    | awk -v image="$image" '{ seen = 1; if ($1 != image || $2 != "Running") stale = 1 }
                             END { exit !(seen && !stale) }'
}
stack_converged() {
  local service
  for service in $(docker stack services --format '{{.Name}}' "$STACK_NAME"); do
    service_converged "$service" || return 1
  done
}
wait_until 300 "every service of stack $STACK_NAME to run its new image" stack_converged

gateway=http://127.0.0.1:$FAAS_GATEWAY_PORT
wait_until 180 "the gateway at $gateway/healthz" curl -fsS "$gateway/healthz"
for function in "${SAMPLE_FUNCTIONS[@]}"; do
  wait_until 180 "function $function" curl -fsS -X POST --data-binary '{}' "$gateway/function/$function"
done
# The credentials go to curl on its standard input, never on a command line (ps shows those).
prometheus_through_the_gateway() {
  printf 'user = "%s:%s"\n' "$(cat "$secrets_dir/basic-auth-user")" \
    "$(cat "$secrets_dir/basic-auth-password")" \
    | curl -fsS -K - "$gateway/system/prometheus/api/v1/query?query=up" >/dev/null
}
wait_until 120 "Prometheus through the gateway" prometheus_through_the_gateway
if [ -n "$PROMETHEUS_PORT" ]; then
  prometheus="http://127.0.0.1:$PROMETHEUS_PORT (published: no credentials needed)"
  wait_until 120 "Prometheus at 127.0.0.1:$PROMETHEUS_PORT" \
    curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
else
  prometheus="$gateway/system/prometheus/api/v1/query?query=up (management credentials)"
fi

cat <<TEXT
faas is up (stack $STACK_NAME):
  gateway     $gateway            (try: curl -X POST --data-binary @README.md $gateway/function/catservice)
  metrics     $gateway/metrics
  prometheus  $prometheus
  management  $gateway/system/functions (user: cat secrets/basic-auth-user, password: cat secrets/basic-auth-password)
              . .venv/bin/activate && faas list --gateway $gateway --password-file secrets/basic-auth-password
TEXT
