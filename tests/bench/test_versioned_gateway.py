"""bench.versioned_gateway: static functions named `<function>@<version>` become versions."""

from __future__ import annotations

from bench.versioned_gateway import with_versions
from gateway.providers.base import Function, FunctionRegistry


def test_a_function_and_its_version_are_weighted_equally() -> None:
    made = with_versions(
        [Function(name, "static", 1, "127.0.0.1", 9) for name in ("one", "two", "two@v2")]
    )
    registry = FunctionRegistry(made)
    one, two = registry.lookup("one"), registry.lookup("two")
    assert one is not None
    assert one.traffic is None  # one version: the path of every function before versions
    assert two is not None
    assert two.traffic is not None
    assert two.traffic.weights == {"v1": 50, "v2": 50}
    chosen = [two.traffic.choose([]) for _ in range(100)]
    assert sorted({f.name for f in chosen if f is not None}) == ["two", "two-v2"]
    assert sum(f is not None and f.name == "two-v2" for f in chosen) == 50


def test_three_versions_give_the_remainder_to_the_first() -> None:
    names = ("fn", "fn@v2", "fn@v3")
    made = with_versions([Function(name, "static", 1, "127.0.0.1", 9) for name in names])
    fn = FunctionRegistry(made).lookup("fn")
    assert fn is not None
    assert fn.traffic is not None
    assert fn.traffic.weights == {"v1": 34, "v2": 33, "v3": 33}
