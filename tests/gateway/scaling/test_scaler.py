"""`Scaler.policy`: read once per labels, again when they change, forgotten when gone."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.labels import LabelProblem
from gateway.providers.base import Function
from gateway.scaling import policy as policy_module
from gateway.scaling import scaler as scaler_module
from gateway.scaling.policy import ScalingPolicy
from gateway.scaling.scaler import Scaler
from tests.gateway.scaling.test_autoscaler import FakeMetrics, FakeProvider


def make_function(labels: dict[str, str]) -> Function:
    return Function("f", "faas/x", 1, "tasks.f", labels=labels)


def counting(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every labels mapping the scaler parses."""
    parsed: list[dict[str, str]] = []
    real = policy_module.policy_from_labels

    def parse(labels: Mapping[str, str]) -> tuple[ScalingPolicy, list[LabelProblem]]:
        parsed.append(dict(labels))
        return real(labels)

    monkeypatch.setattr(scaler_module, "policy_from_labels", parse)
    return parsed


def test_the_labels_are_parsed_once_while_the_function_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed = counting(monkeypatch)
    scaler = Scaler(FakeProvider([]), FakeMetrics())
    function = make_function({"com.openfaas.scale.max": "7"})
    assert [scaler.policy(function).max_replicas for _ in range(3)] == [7, 7, 7]
    assert len(parsed) == 1


def test_a_changed_function_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting(monkeypatch)
    scaler = Scaler(FakeProvider([]), FakeMetrics())
    assert scaler.policy(make_function({"com.openfaas.scale.max": "7"})).max_replicas == 7
    assert scaler.policy(make_function({"com.openfaas.scale.max": "9"})).max_replicas == 9
    assert len(parsed) == 2


def test_gone_functions_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting(monkeypatch)
    scaler = Scaler(FakeProvider([]), FakeMetrics())
    function = make_function({})
    scaler.policy(function)
    scaler.forget_others({"another"})
    scaler.policy(function)
    assert len(parsed) == 2
