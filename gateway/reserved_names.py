"""The names no function may take: the stack's own services (stack.yml, and
stack.mqtt.yml's; tests/gateway/api_types/test_bodies.py keeps them in step).

Each is reached by its short name on the functions network, where a function of the same
name would answer that name too: calls a function makes to `gateway` could reach an
impostor, and the sample functions' short names would change meaning. The gateway sits on
the monitoring network as well, hence `prometheus`, and on the queue network with `nats`
(the queue worker resolves `gateway` and `nats` too), and the front on the edge network
resolves `gateway`; `front` is the stack's own name too.

A leaf: the name a deployment asks for is checked with its body
(`gateway.deployments.fields`), and every service name the platform builds from it (a
version's `<function>-<version>`) where it is built (`gateway.versions.model`).
"""

from __future__ import annotations

RESERVED_FUNCTION_NAMES = frozenset(
    {
        "gateway",
        "front",
        "prometheus",
        "nats",
        "queue-worker",
        "triggers",
        "mosquitto",  # with MQTT (stack.mqtt.yml)
        "base64",
        "catservice",
        "csvtojson",
        "hostnameintent",
        "httpecho",
        "wordcount",
        "sha256job",
    }
)

RESERVED_BECAUSE = (
    "the platform's own service of that name is reached by it on the functions network"
)
"""Why a reserved name is refused, as every refusal says it."""
