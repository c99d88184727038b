#!/usr/bin/env bash
# Remove the stack and wait until its services are gone. The `functions` network stays
# (services made outside the stack may use it); `scripts/down.sh --network` removes it too.
set -euo pipefail
source "$(dirname "$0")/common.sh"

stack_gone() {
  [ -z "$(docker service ls -q --filter "label=com.docker.stack.namespace=$STACK_NAME")" ]
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
