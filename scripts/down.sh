#!/usr/bin/env bash
# Remove the stack and wait until its services are gone. The `functions` network stays
# (services made outside the stack may use it); `scripts/down.sh --network` removes it too.
set -euo pipefail
source "$(dirname "$0")/common.sh"

# Services first, then the stack's own networks: the engine removes those a moment later,
# and a `make up` in between fails with "network func_edge not found".
stack_gone() {
  local owned="label=com.docker.stack.namespace=$STACK_NAME"
  [ -z "$(docker service ls -q --filter "$owned")" ] && [ -z "$(docker network ls -q --filter "$owned")" ]
}

engine_answers || die "no Docker Engine answers: nothing to take down"
if docker stack ls --format '{{.Name}}' | grep -qx "$STACK_NAME"; then
  docker stack rm "$STACK_NAME" >/dev/null
  wait_until 120 "stack $STACK_NAME to be removed" stack_gone
  say "stack $STACK_NAME removed"
else
  say "no stack called $STACK_NAME is deployed"
fi
if [ "${1:-}" = "--network" ] && docker network inspect "$FUNCTIONS_NETWORK" >/dev/null 2>&1; then
  wait_until 60 "network $FUNCTIONS_NETWORK to be removable" docker network rm "$FUNCTIONS_NETWORK"
  say "network $FUNCTIONS_NETWORK removed"
fi
