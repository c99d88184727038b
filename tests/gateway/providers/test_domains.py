"""Custom domains in the registry (`gateway.providers.domains`): one dict get per host, a
deterministic winner when services made outside the API claim a domain twice, logged once."""

from __future__ import annotations

import logging

import pytest

from gateway.labels import DOMAIN_LABEL
from gateway.providers.base import Function, FunctionRegistry

OLD = "2026-01-01T00:00:00.000000001Z"
NEW = "2026-02-01T00:00:00.000000001Z"


def claiming(name: str, domains: str, created_at: str | None = OLD) -> Function:
    labels = {DOMAIN_LABEL: domains}
    return Function(name, "faas/x", 1, f"tasks.{name}", labels=labels, created_at=created_at)


def test_each_custom_domain_reaches_its_function() -> None:
    registry = FunctionRegistry([claiming("api", "api.example.com,www.example.com")])
    assert registry.by_domain("api.example.com") == registry.lookup("api")
    assert registry.by_domain("www.example.com") == registry.lookup("api")
    assert registry.by_domain("other.example.com") is None


def test_an_invalid_label_claims_nothing() -> None:
    registry = FunctionRegistry([claiming("api", "api.example.com:80")])
    assert registry.by_domain("api.example.com") is None


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        (claiming("b", "x.example.com", OLD), claiming("a", "x.example.com", NEW), "b"),
        (claiming("b", "x.example.com", OLD), claiming("a", "x.example.com", OLD), "a"),
        (claiming("a", "x.example.com", None), claiming("b", "x.example.com", NEW), "b"),
    ],
)
def test_the_oldest_service_wins_a_domain_then_the_name(
    first: Function, second: Function, winner: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.domains")
    for order in ([first, second], [second, first]):
        found = FunctionRegistry(order).by_domain("x.example.com")
        assert found is not None
        assert found.name == winner
    assert f"reaches {winner!r}" in caplog.text


def test_a_clash_is_logged_once_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.domains")
    registry = FunctionRegistry([claiming("a", "x.example.com")])
    registry.upsert(claiming("b", "x.example.com", NEW))
    registry.upsert(claiming("c", "other.example.com"))
    registry.upsert(claiming("b", "x.example.com", NEW))
    clashes = [r for r in caplog.records if "x.example.com" in r.getMessage()]
    assert len(clashes) == 1
    assert "claimed by 'a' (the oldest) and by 'b'" in clashes[0].getMessage()
