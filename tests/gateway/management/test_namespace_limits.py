"""Per-namespace limits: the pure check, and the 403s of deploy, update and scale
through the API (in-process, the in-memory provider)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gateway.errors import BadRequest, Forbidden
from gateway.management.namespace_limits import (
    Change,
    NamespaceLimits,
    check_limits,
    parse_limits,
)
from gateway.namespaces import NamespaceRecord
from gateway.providers.base import Function, FunctionSettings, Resources
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider

MI = 1024 * 1024


def dev(**labels: str) -> NamespaceRecord:
    return NamespaceRecord("dev", {f"com.faas.limit.{k}": v for k, v in labels.items()})


def function(
    name: str, replicas: int = 1, memory: int | None = None, version_of: str | None = None
) -> Function:
    settings = FunctionSettings(limits=Resources(memory=memory))
    version = name.rpartition("-")[2] if version_of else None
    return Function(f"dev_{name}", "faas/x", replicas, f"tasks.dev_{name}", namespace="dev",
                    settings=settings, version=version, version_of=version_of)  # fmt: skip


def test_parse_limits_reads_the_three_labels() -> None:
    assert parse_limits(NamespaceRecord("dev")) == NamespaceLimits()
    parsed = parse_limits(dev(functions="3", replicas="10", memory="1Gi"))
    assert parsed == NamespaceLimits(functions=3, replicas=10, memory=1024 * MI)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"functions": "-1"}, "labels.com.faas.limit.functions: '-1' is not an integer"),
        ({"functions": "²"}, "is not an integer"),
        ({"replicas": "10000001"}, "labels.com.faas.limit.replicas"),
        ({"memory": "1 lot"}, "labels.com.faas.limit.memory"),
    ],
)
def test_invalid_limits_are_bad_requests(labels: Mapping[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_limits(dev(**labels))


def test_functions_count_once_whatever_their_versions() -> None:
    functions = [function("a"), function("b", version_of="dev_b"),
                 function("b-v2", version_of="dev_b")]  # fmt: skip
    check_limits(dev(functions="2"), functions, Change("b", False, 1, None))  # a new version
    with pytest.raises(Forbidden) as refused:
        check_limits(dev(functions="2"), functions, Change("c", True, 1, None))
    assert refused.value.message == (
        "namespace 'dev' is limited to 2 functions (com.faas.limit.functions): "
        "function 'c' would make 3"
    )


def test_replicas_are_summed_over_the_namespace() -> None:
    functions = [function("a", replicas=3), function("b", replicas=1)]
    limit = dev(replicas="5")
    check_limits(limit, functions, Change("c", True, 1, None))
    with pytest.raises(Forbidden, match=r"to 5 replicas .*: function 'b' would take it to 6"):
        check_limits(limit, functions, Change("b", False, 3, None, functions[1]))
    check_limits(limit, functions, Change("b", False, 2, None, functions[1]))  # to 5: allowed


def test_a_namespace_over_a_lowered_limit_may_still_shrink_or_stay() -> None:
    functions = [function("a", replicas=4, memory=64 * MI)]
    limit = dev(replicas="2", memory="64Mi")
    check_limits(limit, functions, Change("a", False, 3, 64 * MI, functions[0]))  # down
    check_limits(limit, functions, Change("a", False, 4, 64 * MI, functions[0]))  # as it is
    with pytest.raises(Forbidden, match="replicas"):
        check_limits(limit, functions, Change("a", False, 5, 64 * MI, functions[0]))


def test_memory_is_limits_memory_times_replicas() -> None:
    functions = [function("a", replicas=2, memory=128 * MI)]
    limit = dev(memory="512Mi")
    check_limits(limit, functions, Change("b", True, 2, 128 * MI))  # 512Mi in all
    with pytest.raises(Forbidden) as refused:
        check_limits(limit, functions, Change("b", True, 3, 128 * MI))
    assert refused.value.message == (
        f"namespace 'dev' is limited to {512 * MI} bytes of memory (com.faas.limit.memory): "
        f"function 'b' would take it to {640 * MI}"
    )


def test_a_memory_limited_namespace_wants_limits_memory_on_every_deployment() -> None:
    with pytest.raises(Forbidden, match=r"function 'b' must set limits\.memory"):
        check_limits(dev(memory="1Gi"), [], Change("b", True, 1, None))
    # A function without one, from before the limit, may still scale down.
    old = function("a", replicas=2)
    check_limits(dev(memory="1Gi"), [old], Change("a", False, 1, None, old))


def test_an_invalid_limit_written_on_the_engine_refuses_writes() -> None:
    with pytest.raises(Forbidden, match="has an invalid limit"):
        check_limits(dev(functions="x"), [], Change("a", True, 1, None))


# Through the API.


def deploy(provider: MemoryProvider, name: str, **fields: Any) -> Any:
    body = {"service": name, "image": "faas/x", "namespace": "dev", **fields}
    return call(provider, "POST", "/functions", json=body)


def test_a_second_deploy_in_a_namespace_limited_to_one_function_is_403() -> None:
    provider = MemoryProvider()
    provider.namespace_records["dev"] = dev(functions="1")
    assert deploy(provider, "a").status_code == 202
    refused = deploy(provider, "b")
    assert refused.status_code == 403
    assert refused.json()["error"] == (
        "namespace 'dev' is limited to 1 functions (com.faas.limit.functions): "
        "function 'b' would make 2"
    )
    assert "dev_b" not in provider.deployments
    # The default namespace has no limits; an update of the one function passes.
    assert call(provider, "POST", "/functions", json={"service": "b", "image": "x/y"}).is_success
    update = {"service": "a", "image": "faas/x:2", "namespace": "dev"}
    assert call(provider, "PUT", "/functions", json=update).status_code == 202


def test_memory_and_replicas_limits_through_deploy_and_scale() -> None:
    provider = MemoryProvider()
    provider.namespace_records["dev"] = dev(replicas="3", memory="256Mi")
    refused = deploy(provider, "a")
    assert (refused.status_code, "must set limits.memory" in refused.json()["error"]) == (403, True)
    assert deploy(provider, "a", limits={"memory": "64Mi"}).status_code == 202
    scaled = call(provider, "POST", "/scale-function/a.dev", json={"replicas": 3})
    assert scaled.status_code == 202
    refused = call(provider, "POST", "/scale-function/a.dev", json={"replicas": 4})
    assert refused.status_code == 403
    assert "limited to 3 replicas (com.faas.limit.replicas)" in refused.json()["error"]
    assert [f.replicas for f in provider.functions()] == [3]
    update = {"service": "a", "image": "x/y", "namespace": "dev", "limits": {"memory": "128Mi"}}
    refused = call(provider, "PUT", "/functions", json=update)
    assert refused.status_code == 403
    assert "limited to 268435456 bytes of memory (com.faas.limit.memory)" in refused.json()["error"]
