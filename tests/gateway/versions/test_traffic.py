"""Versions in the registry and the weighted choice between them (gateway.versions.traffic)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from gateway.labels import STICKY_HEADER_LABEL
from gateway.providers.base import Function, FunctionRegistry
from gateway.versions.model import VERSION_LABEL, VERSION_OF_LABEL
from gateway.versions.traffic import choose_version, smooth_schedule, version_named
from tests.gateway.versions.builders import root, version


def choose_many(
    registry: FunctionRegistry, calls: int, headers: list[tuple[bytes, bytes]] | None = None
) -> Counter[str]:
    function = registry.lookup("hello")
    assert function is not None
    assert function.traffic is not None
    chosen = Counter[str]()
    for _ in range(calls):
        picked = function.traffic.choose(headers or [])
        assert picked is not None
        chosen[picked.version or ""] += 1
    return chosen


@pytest.mark.parametrize(
    "weights", [{"v1": 90, "v2": 10}, {"v1": 1, "v2": 99}, {"a": 33, "b": 33, "c": 34},
                {"v1": 100, "v2": 0}, {"v1": 0, "v2": 100}]
)  # fmt: skip
def test_schedule_gives_each_version_exactly_its_weight(weights: dict[str, int]) -> None:
    schedule = smooth_schedule(weights)
    assert len(schedule) == 100
    assert Counter(schedule) == {v: w for v, w in weights.items() if w}
    assert smooth_schedule(weights) == schedule  # deterministic


def test_schedule_spreads_the_small_weight_evenly() -> None:
    schedule = smooth_schedule({"v1": 90, "v2": 10})
    positions = [i for i, v in enumerate(schedule) if v == "v2"]
    assert [b - a for a, b in itertools.pairwise(positions)] == [10] * 9
    # Any 20 consecutive calls hold 2 of v2.
    doubled = schedule * 2
    assert all(doubled[i : i + 20].count("v2") == 2 for i in range(100))


def test_exact_split_over_n_calls() -> None:
    registry = FunctionRegistry([root(), version("v2")])
    assert choose_many(registry, 1000) == {"v1": 900, "v2": 100}


def test_the_function_with_versions_is_one_entry_with_traffic() -> None:
    registry = FunctionRegistry([root(), version("v2"), version("v3", replicas=0)])
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is not None
    assert hello.version == "v1"
    assert hello.version_of == "hello"
    assert hello.metric_name == "hello@v1"
    assert sorted(hello.traffic.versions) == ["v1", "v2", "v3"]
    assert hello.traffic.weights == {"v1": 90, "v2": 10, "v3": 0}
    v2 = registry.lookup("hello@v2")
    assert v2 is not None
    assert v2.name == "hello-v2"
    assert v2.metric_name == "hello@v2"
    assert registry.lookup("hello-v2") == v2  # the service by its own name, too
    v3 = registry.lookup("hello@v3")
    assert v3 is not None
    assert v3.replicas == 0
    v1 = registry.lookup("hello@v1")
    assert v1 is not None
    assert v1.name == "hello"
    assert v1.traffic is None
    assert registry.lookup("hello@v9") is None
    assert registry.lookup("nothing@v1") is None
    assert registry.lookup("hello@v2@v2") is None
    # Every service stays in the view (scaling and metrics go by service).
    assert [f.name for f in registry.all()] == ["hello", "hello-v2", "hello-v3"]


def test_one_version_is_exactly_as_before() -> None:
    plain = Function("hello", "hello:1", 1, "tasks.hello")
    registry = FunctionRegistry([plain])
    assert registry.lookup("hello") == plain
    assert registry.lookup("hello") is not None
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is None
    assert hello.metric_name == "hello"
    assert registry.lookup("hello@v1") == plain  # its implicit version
    assert choose_version(hello, [(b"x-function-version", b"v7")]) is hello
    assert version_named(hello, "v1") is hello
    assert version_named(hello, "v2") is None


def test_version_header_reaches_one_version_weight_zero_included() -> None:
    registry = FunctionRegistry([root("v1=100"), version("v2")])
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is not None
    picked = hello.traffic.choose([(b"x-function-version", b"v2")])
    assert picked is not None
    assert picked.name == "hello-v2"
    assert hello.traffic.choose([(b"x-function-version", b"v7")]) is None
    assert choose_version(hello, [(b"x-function-version", b"v7")]) is None
    assert choose_version(hello, [(b"x-function-version", b"v2")]) is picked
    assert choose_many(registry, 50) == {"v1": 50}


def test_sticky_header_keeps_a_caller_on_one_version() -> None:
    registry = FunctionRegistry([root("v1=50,v2=50", **{STICKY_HEADER_LABEL: "X-User"}),
                                 version("v2")])  # fmt: skip
    seen: dict[str, set[str]] = {}
    for user in range(200):
        value = f"user-{user}".encode()
        for _ in range(3):
            got = choose_many(registry, 1, [(b"x-user", value)])
            seen.setdefault(value.decode(), set()).update(got)
    assert all(len(versions) == 1 for versions in seen.values())
    split = Counter(next(iter(versions)) for versions in seen.values())
    assert 60 < split["v1"] < 140  # hashing spreads callers over both
    # The version header wins over stickiness.
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is not None
    both = [(b"x-user", b"user-1"), (b"x-function-version", b"v1")]
    assert all(hello.traffic.choose(both).version == "v1" for _ in range(5))  # type: ignore[union-attr]


def test_missing_or_invalid_weights_send_everything_to_the_first_version() -> None:
    for traffic in (None, "v1=90,v2=20", "garbage", "v7=100"):
        registry = FunctionRegistry([root(traffic), version("v2")])
        assert choose_many(registry, 10) == {"v1": 10}


def test_weights_of_a_removed_version_go_nowhere() -> None:
    registry = FunctionRegistry([root("v1=80,v2=10,v3=10"), version("v2")])
    assert choose_many(registry, 90) == {"v1": 80, "v2": 10}


def test_orphans_and_bad_labels_stay_plain_functions() -> None:
    orphan = version("v2", owner="gone")
    bad = Function("hello-x", "x", 1, "tasks.hello-x",
                   labels={VERSION_OF_LABEL: "hello", VERSION_LABEL: "Not Valid"})  # fmt: skip
    registry = FunctionRegistry([root(), orphan, bad])
    assert registry.lookup("gone-v2") is not None
    assert registry.lookup("gone-v2").version_of is None  # type: ignore[union-attr]
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is None


def test_upserting_a_version_regroups() -> None:
    registry = FunctionRegistry([root()])
    assert registry.lookup("hello").traffic is None  # type: ignore[union-attr]
    registry.upsert(version("v2"))
    assert registry.lookup("hello").traffic is not None  # type: ignore[union-attr]
    registry.remove("hello-v2")
    hello = registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is None
    assert hello.metric_name == "hello"
