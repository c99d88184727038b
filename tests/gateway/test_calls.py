"""`gateway.calls`: the function a call goes to, the same for every door."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.calls import Calls
from gateway.errors import FunctionNotFound, NamespaceNotFound
from gateway.namespaces import Namespaces
from gateway.providers.base import Function, FunctionRegistry
from gateway.versions.traffic import Traffic, choose_version

V1 = Function("hello", "faas/hello:1", 1, "hello.v1", 8080, version="v1")
V2 = Function("hello-v2", "faas/hello:2", 1, "hello.v2", 8080, version="v2")
HELLO = dataclasses.replace(V1, traffic=Traffic("hello", {"v1": V1, "v2": V2}, {"v1": 100}))
CAT = Function("cat", "faas/cat", 1, "cat.test", 8080)


def calls(looked_up: list[str] | None = None) -> Calls:
    functions = {"cat": CAT, "hello": HELLO}

    def lookup(name: str) -> Function | None:
        if looked_up is not None:
            looked_up.append(name)
        return functions.get(name)

    return Calls(lookup)


def test_a_name_is_found_as_addressed_then_without_its_namespace() -> None:
    looked_up: list[str] = []
    assert calls(looked_up).find("cat") is CAT
    assert looked_up == ["cat"]
    assert calls(looked_up).find("cat.openfaas-fn") is CAT
    assert looked_up == ["cat", "cat.openfaas-fn", "cat"]


def test_unknown_names_and_namespaces_are_404s() -> None:
    with pytest.raises(FunctionNotFound, match="'nope' not found"):
        calls().find("nope")
    with pytest.raises(NamespaceNotFound):
        calls().find("cat.elsewhere")
    with pytest.raises(NamespaceNotFound):
        calls().find("cat", namespace="elsewhere")
    assert calls().find("cat", namespace="openfaas-fn") is CAT


def test_the_target_is_the_version_the_weights_or_the_header_choose() -> None:
    assert calls().target("cat", []) is CAT
    assert calls().target("hello", []) is V1
    assert calls().target("hello", [(b"x-function-version", b"v2")]) is V2
    with pytest.raises(FunctionNotFound, match="no such version"):
        calls().target("hello", [(b"x-function-version", b"v3")])


def test_a_found_function_gets_its_version_the_same_way() -> None:
    assert calls().version(HELLO, [(b"x-function-version", b"v2")]) is V2
    assert calls().version(CAT, [(b"x-function-version", b"v2")]) is CAT
    with pytest.raises(FunctionNotFound, match="'hello' not found \\(no such version"):
        calls().version(HELLO, [(b"x-function-version", b"v3")])
    assert choose_version(HELLO, [(b"x-function-version", b"v3")]) is None


def test_a_function_in_a_namespace_is_reached_by_its_key_only() -> None:
    registry = FunctionRegistry(
        [CAT, Function("dev_cat", "faas/cat", 1, "tasks.dev_cat", 8080, namespace="dev")]
    )
    found = Calls(registry.lookup, Namespaces(others=lambda: {"dev"}))
    assert found.target("cat.dev", []).name == "dev_cat"
    assert found.find("cat", "dev").name == "dev_cat"
    assert found.find("cat.dev", "dev").name == "dev_cat"
    assert found.target("cat", []) is CAT  # the default namespace's
    assert found.target("cat.openfaas-fn", []) is CAT
    with pytest.raises(NamespaceNotFound):
        found.target("cat.prod", [])
