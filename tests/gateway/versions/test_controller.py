"""The controllers with the in-memory provider: the API's changes (`VersionController`),
and a canary's steps with a fake clock and fake counters (`CanaryController`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from gateway.errors import BadRequest, Conflict, FunctionNotFound
from gateway.labels import MANAGED_LABEL
from gateway.providers.base import Function
from gateway.versions.canary import CanaryState, canary_state
from gateway.versions.controller import CanaryController, VersionController
from gateway.versions.model import CANARY_LABEL, VERSION_LABEL, VERSION_OF_LABEL
from gateway.versions.requests import CanaryRequest
from tests.gateway.providers.memory_provider import MemoryProvider


@dataclass(frozen=True)
class Calls:
    calls: int
    errors: int
    buckets: tuple[tuple[float, int], ...]


class Counters:
    """What the metrics' `outcomes()` would say: calls per version, settable."""

    def __init__(self) -> None:
        self.by_version: dict[str, Calls] = {}

    def add(self, version: str, calls: int, errors: int = 0, slow: int = 0) -> None:
        before = self.by_version.get(f"hello@{version}", Calls(0, 0, ((0.1, 0), (5.0, 0))))
        fast, late = before.buckets[0][1], before.buckets[1][1]
        self.by_version[f"hello@{version}"] = Calls(
            before.calls + calls,
            before.errors + errors,
            ((0.1, fast + calls - slow), (5.0, late + slow)),
        )

    def outcomes(self) -> dict[str, Calls]:
        return dict(self.by_version)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


Steps = list[tuple[str, str, int, str]]


def setup(**request: object) -> tuple[MemoryProvider, Counters, Clock, CanaryController, Steps]:
    provider = MemoryProvider(
        [
            Function("hello", "h:1", 1, "tasks.hello", labels={MANAGED_LABEL: "true"}),
            Function("hello-v2", "h:2", 1, "tasks.hello-v2",
                     labels={VERSION_OF_LABEL: "hello", VERSION_LABEL: "v2"}),
        ]
    )  # fmt: skip
    clock = Clock()
    wanted = CanaryRequest.model_validate({"to": "v2", "step": 25, "every": 10, **request})
    state = CanaryState(request=wanted, origin={"v1": 100, "v2": 0}, weight=0, since=clock.now)
    asyncio.run(provider.set_traffic("hello", {"v1": 100, "v2": 0}, state.label()))
    counters = Counters()
    reports: list[tuple[str, str, int, str]] = []
    controller = CanaryController(
        provider,
        counters.outcomes,
        clock=clock,
        report=lambda *step: reports.append(step),
    )
    return provider, counters, clock, controller, reports


def weights(provider: MemoryProvider) -> dict[str, int]:
    hello = provider.registry.lookup("hello")
    assert hello is not None
    assert hello.traffic is not None
    return dict(hello.traffic.weights)


def state(provider: MemoryProvider) -> CanaryState:
    hello = provider.registry.lookup("hello")
    assert hello is not None
    found = canary_state(hello.labels.get(CANARY_LABEL))
    assert found is not None
    return found


def test_steps_up_to_promotion_at_100() -> None:
    provider, counters, clock, controller, reports = setup()
    asyncio.run(controller.tick())  # sees the step begin
    for expected in (25, 50, 75):
        clock.now += 5
        asyncio.run(controller.tick())
        assert weights(provider)["v2"] == expected - 25  # not due yet
        clock.now += 5
        counters.add("v2", 100, errors=0)
        asyncio.run(controller.tick())
        assert weights(provider) == {"v1": 100 - expected, "v2": expected}
        asyncio.run(controller.tick())  # the next step's baseline
    clock.now += 10
    asyncio.run(controller.tick())
    assert weights(provider) == {"v1": 0, "v2": 100}
    assert state(provider).status == "promoted"
    assert [r[3] for r in reports] == ["step", "step", "step", "promoted"]
    assert [s.result for s in state(provider).steps][-1] == "promoted"
    clock.now += 100
    asyncio.run(controller.tick())  # over: nothing more
    assert len(reports) == 4


def test_rolls_back_by_itself_on_an_error_rate_breach() -> None:
    provider, counters, clock, controller, reports = setup(maxErrorRate=0.05)
    asyncio.run(controller.tick())
    clock.now += 10
    asyncio.run(controller.tick())
    assert weights(provider) == {"v1": 75, "v2": 25}
    asyncio.run(controller.tick())
    counters.add("v2", 100, errors=6)
    counters.add("v1", 300, errors=0)
    clock.now += 10
    asyncio.run(controller.tick())
    assert weights(provider) == {"v1": 100, "v2": 0}
    ended = state(provider)
    assert ended.status == "rolled_back"
    assert "error rate 6.00% > 5.00% over 100 calls" in ended.steps[-1].reason
    assert reports[-1] == ("hello", "v2", 0, "rolled_back")


def test_rolls_back_on_latency() -> None:
    provider, counters, clock, controller, _ = setup(maxLatency=1.0)
    asyncio.run(controller.tick())
    counters.add("v2", 100, slow=2)
    clock.now += 10
    asyncio.run(controller.tick())
    assert state(provider).status == "rolled_back"
    assert "p99 5s > 1s" in state(provider).steps[-1].reason


def test_a_restart_measures_the_step_again() -> None:
    provider, counters, clock, controller, _ = setup(maxErrorRate=0.05)
    asyncio.run(controller.tick())
    counters.add("v2", 100, errors=50)  # seen by the old process only
    clock.now += 10
    fresh = CanaryController(provider, counters.outcomes, clock=clock)
    asyncio.run(fresh.tick())  # baseline now: the errors before are not its step's
    assert state(provider).status == "running"
    clock.now += 10
    counters.add("v2", 100, errors=0)
    asyncio.run(fresh.tick())
    assert weights(provider) == {"v1": 75, "v2": 25}


def test_the_api_changes_go_through_the_version_controller() -> None:
    provider, _, _, _, _ = setup()
    versions = VersionController(provider, canaries_stepped=True)
    # A running canary: a rollback stops it, back to the weights before it.
    rolled = asyncio.run(versions.rollback("hello-v2"))  # a version's name: its function
    assert (rolled.name, rolled.done, rolled.weights) == (
        "hello", "canary aborted", {"v1": 100, "v2": 0},
    )  # fmt: skip
    assert state(provider).status == "aborted"
    assert [step.result for step in state(provider).steps] == ["aborted"]
    with pytest.raises(Conflict, match="no canary running"):
        asyncio.run(versions.abort_canary("hello"))

    set_ = asyncio.run(versions.set_weights("hello", {"v1": 60, "v2": 40}))
    assert set_.weights == weights(provider) == {"v1": 60, "v2": 40}
    started = asyncio.run(versions.start_canary("hello", {"to": "v2", "step": 20}))
    assert started.done == "canary to v2 started"
    assert (state(provider).weight, state(provider).origin) == (40, {"v1": 60, "v2": 40})
    promoted = asyncio.run(versions.promote("hello", {"version": "v2"}))
    assert promoted.weights == {"v1": 0, "v2": 100}
    assert canary_state(provider.registry.lookup("hello").labels.get(CANARY_LABEL)) is None  # type: ignore[union-attr]
    back = asyncio.run(versions.rollback("hello"))
    assert back.weights == {"v1": 60, "v2": 40}

    with pytest.raises(BadRequest, match="'v7' is not a version of 'hello'"):
        asyncio.run(versions.promote("hello", {"version": "v7"}))
    with pytest.raises(FunctionNotFound):
        asyncio.run(versions.set_weights("nothing", {"v1": 100}))
    off = VersionController(provider, canaries_stepped=False)
    with pytest.raises(Conflict, match="GATEWAY_AUTOSCALE"):
        asyncio.run(off.start_canary("hello", {"to": "v2"}))
