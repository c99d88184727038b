"""The management API's objects, typed once: what a client sends to `/system`
(`bodies`) and what each operation answers (`answers`).

Pydantic models, so one definition gives the validation and the schema the OpenAPI
document (`gateway.management.openapi`) shows. Field names are OpenFaaS's where it has
the object (`FunctionDeployment`, `FunctionStatus`, `Secret`), camelCase elsewhere.
Nothing here knows about HTTP or Docker; the providers receive the bodies, which import
nothing above them (tests/gateway/test_layers.py). The bodies of the version operations are
with the versions (`gateway.versions.requests`: `PromoteRequest`, `CanaryRequest`).
"""
