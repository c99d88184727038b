"""A function with versions, as the registry reads it: its own service and its versions'."""

from __future__ import annotations

from gateway.providers.base import Function
from gateway.versions.model import TRAFFIC_LABEL, VERSION_LABEL, VERSION_OF_LABEL


def root(traffic: str | None = "v1=90,v2=10", **labels: str) -> Function:
    own = {TRAFFIC_LABEL: traffic} if traffic else {}
    return Function("hello", "hello:1", 1, "tasks.hello", labels={**own, **labels})


def version(name: str, owner: str = "hello", replicas: int = 1) -> Function:
    labels = {VERSION_OF_LABEL: owner, VERSION_LABEL: name}
    return Function(f"{owner}-{name}", f"hello:{name}", replicas, f"tasks.{owner}-{name}",
                    labels=labels)  # fmt: skip
