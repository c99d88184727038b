"""A version's labels and weights, and the services a version lives in
(gateway.versions.model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.errors import BadRequest, Conflict
from gateway.providers.base import Function, FunctionRegistry
from gateway.versions.model import (
    CANARY_LABEL,
    PREVIOUS_TRAFFIC_LABEL,
    TRAFFIC_LABEL,
    VERSION_LABEL,
    VERSION_OF_LABEL,
    VersionTarget,
    new_version_target,
    parse_weights,
    services_to_remove,
    version_target,
    weights_with,
    whole_function,
    with_traffic,
)
from tests.gateway.versions.builders import root, version


def test_weights_with_takes_from_the_largest() -> None:
    assert weights_with({"v1": 100}, "v2", 10) == {"v1": 90, "v2": 10}
    assert weights_with({"v1": 80, "v2": 20}, "v2", 10) == {"v1": 90, "v2": 10}
    assert weights_with({"v1": 60, "v2": 30, "v3": 10}, "v3", 80) == {"v1": 0, "v2": 20, "v3": 80}
    assert weights_with({}, "v2", 10) == {"v2": 100}


def test_version_target() -> None:
    registry = FunctionRegistry([root(), version("v2")])
    lookup = registry.lookup
    assert version_target("new", "v1", lookup).service == "new"
    assert version_target("new", "v1", lookup).labels == {VERSION_LABEL: "v1"}
    three = version_target("hello", "v3", lookup)
    assert (three.service, three.own) == ("hello-v3", False)
    assert three.labels == {VERSION_OF_LABEL: "hello", VERSION_LABEL: "v3"}
    assert version_target("hello", "v1", lookup).own
    assert version_target("hello", None, lookup).service == "hello"


@pytest.mark.parametrize("target", [version_target, new_version_target])
def test_a_version_never_makes_a_reserved_service_name(
    target: Callable[..., VersionTarget],
) -> None:
    # `service=queue` is allowed, and so is `version=worker`: together they would make
    # the stack's own `queue-worker`, as a version's service or a version's version.
    registry = FunctionRegistry([Function("queue", "queue:1", 1, "tasks.queue"),
                                 version("v2", owner="queue")])  # fmt: skip
    for service in ("queue", "queue-v2"):
        with pytest.raises(BadRequest) as raised:
            target(service, "worker", registry.lookup)
        assert raised.value.message == (
            "version: 'worker' of 'queue' would be the service 'queue-worker', which is "
            "reserved: the platform's own service of that name is reached by it on the "
            "functions network"
        )
    # A function that does not exist yet gets its first version as its own service.
    assert target("nats", "worker", registry.lookup).service == "nats"
    assert target("queue", "v3", registry.lookup).service == "queue-v3"


def test_removal_rules() -> None:
    registry = FunctionRegistry([root("v1=100"), version("v2"), version("v3")])
    lookup = registry.lookup
    assert services_to_remove(lookup("hello"), lookup) == ["hello-v2", "hello-v3", "hello"]  # type: ignore[arg-type]
    assert services_to_remove(lookup("hello@v2"), lookup) == ["hello-v2"]  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="own service"):
        services_to_remove(lookup("hello@v1"), lookup)  # type: ignore[arg-type]
    registry.upsert(root("v1=90,v2=10"))
    with pytest.raises(Conflict, match="10% of the calls"):
        services_to_remove(lookup("hello@v2"), lookup)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("v1=90,v2=10", {"v1": 90, "v2": 10}), ("v1=100", {"v1": 100}),
     ("v1=90,v2=20", None), ("v1=90,v1=10", None), ("V1=100", None), ("v1=1e2", None),
     ("v1=-10,v2=110", None), ("", None), ("v1=\u0661\u0660\u0660", None)],
)  # fmt: skip
def test_parse_weights(raw: str, parsed: dict[str, int] | None) -> None:
    assert parse_weights(raw) == parsed


def test_with_traffic_keeps_the_weights_replaced_and_the_canary_given() -> None:
    first = with_traffic({"other": "kept"}, {"v1": 100}, None)
    assert first == {"other": "kept", TRAFFIC_LABEL: "v1=100"}
    second = with_traffic(first, {"v1": 90, "v2": 10}, "{}")
    assert second[TRAFFIC_LABEL] == "v1=90,v2=10"
    assert second[PREVIOUS_TRAFFIC_LABEL] == "v1=100"
    assert second[CANARY_LABEL] == "{}"
    assert CANARY_LABEL not in with_traffic(second, {"v1": 90, "v2": 10}, None)
    assert with_traffic(second, {"v1": 90, "v2": 10}, None)[PREVIOUS_TRAFFIC_LABEL] == "v1=100"


def test_a_new_version_and_the_weights_it_gets() -> None:
    registry = FunctionRegistry([root("v1=100"), version("v2")])
    lookup = registry.lookup
    with pytest.raises(Conflict, match="'v1' is the function 'hello''s own"):
        new_version_target("hello", "v1", lookup)
    three = new_version_target("hello", "v3", lookup)
    assert three.service == "hello-v3"
    assert three.weights_after("v3", 10) == {"v1": 90, "v2": 0, "v3": 10}
    assert three.weights_after("v3", 0) is None
    assert new_version_target("new", "v1", lookup).weights_after("v1", 10) is None


def test_a_versions_name_reaches_its_whole_function() -> None:
    registry = FunctionRegistry([root("v1=100"), version("v2")])
    whole = whole_function("hello-v2", registry.lookup)
    assert whole is not None
    assert whole.name == "hello"
    assert whole.traffic is not None
    assert whole_function("nothing", registry.lookup) is None
