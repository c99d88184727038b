"""What a deployment becomes in its service's labels: the user's labels, its annotations
(`com.faas.annotation.<key>`), its limits and requests as written (`com.faas.limits.cpu`,
...) and the platform's own, which a deployment may not set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.labels import ANNOTATION_PREFIX, FUNCTION_LABEL, MANAGED_LABEL, label_problems
from gateway.namespaces import NAMESPACE_LABEL
from gateway.versions.model import (
    CANARY_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
)

OPENFAAS_FUNCTION_LABEL = "faas_function"
"""The label OpenFaaS providers put on every function, its name: shown in every function's
record, never stored (a deployment may send it back with the function's name, which the
body drops: `gateway.api_types.bodies`)."""
LIMITS_PREFIX = "com.faas.limits."
REQUESTS_PREFIX = "com.faas.requests."
"""`cpu` and `memory` of a deployment's limits and requests as the client wrote them
(`100m`, `5Mi`), which its record shows back; the engine gets the numbers."""
# Labels the platform sets itself; a deployment may not set them.
_RESERVED_LABEL_PREFIXES = ("com.docker.", ANNOTATION_PREFIX, LIMITS_PREFIX, REQUESTS_PREFIX)
_RESERVED_LABELS = frozenset(
    {
        FUNCTION_LABEL,
        MANAGED_LABEL,
        VERSION_OF_LABEL,
        VERSION_LABEL,
        TRAFFIC_LABEL,
        PREVIOUS_TRAFFIC_LABEL,
        CANARY_LABEL,
        OPENFAAS_FUNCTION_LABEL,
        NAMESPACE_LABEL,
    }
)


class Written(Protocol):
    """A limit or reservation (`gateway.api_types.bodies.ResourceSpec`)."""

    @property
    def written(self) -> Mapping[str, str]:
        """`cpu` and `memory` as the client wrote them."""


class Labelled(Protocol):
    """What of a deployment its labels come from (`gateway.api_types.bodies.FunctionDeployment`)."""

    @property
    def labels(self) -> Mapping[str, str]:
        """The user's labels."""

    @property
    def annotations(self) -> Mapping[str, str]:
        """The user's annotations."""

    @property
    def limits(self) -> Written | None:
        """Its limits."""

    @property
    def requests(self) -> Written | None:
        """Its reservations."""


def service_labels(
    deployment: Labelled, platform_labels: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels of the service `deployment` creates or updates: its labels, its
    annotations, its limits and requests as written, the platform's labels given (a
    version's, those an update keeps), and `com.faas.managed=true` (the API deployed it)."""
    resources = ((LIMITS_PREFIX, deployment.limits), (REQUESTS_PREFIX, deployment.requests))
    written = {
        prefix + key: value
        for prefix, spec in resources
        if spec is not None
        for key, value in spec.written.items()
    }
    return {
        **deployment.labels,
        **{ANNOTATION_PREFIX + key: value for key, value in deployment.annotations.items()},
        **written,
        **(platform_labels or {}),
        MANAGED_LABEL: "true",
    }


def no_reserved_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """`labels`, unless one is the platform's or a platform label's value is invalid.

    `com.faas.managed=true`, which every function the API deployed has, is taken back as
    it is, so that a described function can be sent back whole with PUT."""
    for key, value in labels.items():
        if key == MANAGED_LABEL and value == "true":
            continue
        if key == OPENFAAS_FUNCTION_LABEL:
            raise ValueError(
                f"{key}={_shown(value)}: OpenFaaS's label is the function's name, set by the "
                "platform (send the name or leave it out)"
            )
        if key in _RESERVED_LABELS or key.startswith(_RESERVED_LABEL_PREFIXES):
            raise ValueError(f"{key!r} is reserved for the platform")
    # The labels the platform reads (`com.faas.port`, `com.faas.scale.*`): refused here
    # rather than silently replaced by their defaults at run time.
    problems = label_problems(labels)
    if problems:
        first = problems[0]
        raise ValueError(f"{first.label}={_shown(first.value)}: expected {first.expected}")
    return labels


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")
