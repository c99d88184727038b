"""The management API under /system: `api` (routes), `deployments` (the typed deployment
definition), `openapi` (its schema), `logs` (reading and following function logs), `auth`
(basic auth). Handlers parse and answer; every change goes through the provider."""
