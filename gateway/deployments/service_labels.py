"""What a deployment becomes in its service's labels: the user's labels, its annotations
(`com.faas.annotation.<key>`) and the platform's own, which a deployment may not set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.labels import ANNOTATION_PREFIX, FUNCTION_LABEL, MANAGED_LABEL, label_problems
from gateway.versions.model import (
    CANARY_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
)

# Labels the platform sets itself; a deployment may not set them.
_RESERVED_LABEL_PREFIXES = ("com.docker.", ANNOTATION_PREFIX)
_RESERVED_LABELS = frozenset(
    {
        FUNCTION_LABEL,
        MANAGED_LABEL,
        VERSION_OF_LABEL,
        VERSION_LABEL,
        TRAFFIC_LABEL,
        PREVIOUS_TRAFFIC_LABEL,
        CANARY_LABEL,
    }
)


class Labelled(Protocol):
    """What of a deployment its labels come from (`gateway.api_types.bodies.FunctionDeployment`)."""

    @property
    def labels(self) -> Mapping[str, str]:
        """The user's labels."""

    @property
    def annotations(self) -> Mapping[str, str]:
        """The user's annotations."""


def service_labels(
    deployment: Labelled, platform_labels: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels of the service `deployment` creates or updates: its labels, its
    annotations, the platform's labels given (a version's, those an update keeps), and
    `com.faas.managed=true` (the API deployed it)."""
    return {
        **deployment.labels,
        **{ANNOTATION_PREFIX + key: value for key, value in deployment.annotations.items()},
        **(platform_labels or {}),
        MANAGED_LABEL: "true",
    }


def no_reserved_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """`labels`, unless one is the platform's or a platform label's value is invalid."""
    for key in labels:
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
