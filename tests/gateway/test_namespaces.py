"""`<name>.<namespace>`: the one place the suffix is read."""

from __future__ import annotations

import pytest

from gateway.errors import NamespaceNotFound, status_code
from gateway.namespaces import DEFAULT_NAMESPACE, Namespaces

NAMESPACES = Namespaces()


def test_the_default_is_openfaas_s() -> None:
    assert DEFAULT_NAMESPACE == "openfaas-fn"
    assert NAMESPACES.names == ("openfaas-fn",)


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [
        ("cat", None, "cat"),
        ("cat", "", "cat"),
        ("cat", "openfaas-fn", "cat"),
        ("cat.openfaas-fn", None, "cat"),
        ("cat.openfaas-fn", "openfaas-fn", "cat"),
        ("func_cat.openfaas-fn", None, "func_cat"),
    ],
)
def test_the_suffix_and_the_parameter_are_read(
    name: str, namespace: str | None, expected: str
) -> None:
    assert NAMESPACES.function_name(name, namespace) == expected


@pytest.mark.parametrize(
    ("name", "namespace", "unknown"),
    [("cat.dev", None, "dev"), ("cat", "dev", "dev"), ("cat.openfaas-fn", "dev", "dev"),
     ("cat.", None, "")],
)  # fmt: skip
def test_another_namespace_is_404_listing_ours(
    name: str, namespace: str | None, unknown: str
) -> None:
    # An empty suffix ("cat.") names no namespace: refused, not read as the default.
    with pytest.raises(NamespaceNotFound) as raised:
        NAMESPACES.function_name(name, namespace)
    assert status_code(raised.value) == 404
    assert raised.value.message == (
        f"namespace {unknown!r} not found (function {name!r}): this gateway has 'openfaas-fn'"
    )


def test_a_configured_namespace_replaces_the_default() -> None:
    namespaces = Namespaces("team-a")
    assert namespaces.function_name("cat.team-a") == "cat"
    with pytest.raises(NamespaceNotFound, match="this gateway has 'team-a'"):
        namespaces.function_name("cat.openfaas-fn")


def test_lookup_reads_the_suffix_only_for_a_dotted_name() -> None:
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return name.upper() if name == "cat" else None

    assert NAMESPACES.lookup(lookup, "cat") is None  # no suffix: nothing to do
    assert asked == []
    assert NAMESPACES.lookup(lookup, "cat.openfaas-fn") == "CAT"
    assert asked == ["cat"]


def test_other_namespaces_follow_the_provider_and_keep_versions_on_the_key() -> None:
    others: set[str] = set()
    namespaces = Namespaces(others=lambda: others)
    with pytest.raises(NamespaceNotFound):
        namespaces.function_name("cat.dev")
    others.add("dev")
    assert namespaces.names == ("openfaas-fn", "dev")
    assert namespaces.function_name("cat.dev") == "cat.dev"
    assert namespaces.function_name("cat", "dev") == "cat.dev"
    assert namespaces.function_name("cat.dev@v2") == "cat.dev@v2"
    assert namespaces.function_name("cat@v2.dev") == "cat.dev@v2"
    assert namespaces.function_name("cat@v2.openfaas-fn") == "cat@v2"
    assert namespaces.function_name("cat.openfaas-fn@v2") == "cat@v2"
    assert namespaces.other("openfaas-fn") is None
    assert namespaces.other("dev") == "dev"
