"""A canary's state machine: its request, the weight it has reached and its steps, kept as
JSON in a label of the function's own service (`com.faas.canary`) so that any gateway can
continue it (docs/versions.md).

A canary starts `running` (`CanaryState.start`), takes steps (`stepped`) and ends
`promoted` or `rolled_back` (`ended`) as the controller measures it, or `aborted` when
asked (`aborted`). Each transition gives a new state; `gateway.versions.controller`
writes it with the weights in one update.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from gateway.versions.requests import CanaryRequest

MAX_STEPS_KEPT = 30
"""The steps a canary's label keeps (the latest), for `faas describe`."""


class CanaryStep(BaseModel):
    """One step of a canary: the weight it set, when, and what the step before saw."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True)

    weight: int
    at: float  # Unix time
    result: str  # started, step, promoted, rolled_back, aborted
    calls: int = 0
    errors: int = 0
    p99: float | None = None
    reason: str = ""


class CanaryState(BaseModel):
    """A canary as kept on the function's own service (`com.faas.canary`, JSON), so any
    gateway can continue it, and as `GET /system/function/{name}` shows it."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True)

    request: CanaryRequest
    origin: Mapping[str, int]  # the weights before it: where a rollback goes
    weight: int  # the version's weight now
    since: float  # Unix time that weight was set
    status: str = "running"  # running, promoted, rolled_back, aborted
    steps: tuple[CanaryStep, ...] = ()

    @classmethod
    def start(cls, request: CanaryRequest, weights: Mapping[str, int], now: float) -> CanaryState:
        """A canary from the weights its function has now (where a rollback goes)."""
        weight = weights.get(request.to, 0)
        first = CanaryStep(weight=weight, at=now, result="started")
        return cls(request=request, origin=weights, weight=weight, since=now, steps=(first,))

    def stepped(self, weight: int, now: float, calls: int, errors: int, p99: float | None
                ) -> CanaryState:  # fmt: skip
        """The next step: the version at `weight`, after a step that saw these calls."""
        step = CanaryStep(weight=weight, at=now, result="step", calls=calls, errors=errors, p99=p99)
        return self.model_copy(
            update={"weight": weight, "since": now, "steps": _kept(self.steps, step)}
        )

    def ended(
        self,
        status: str,
        weight: int,
        now: float,
        calls: int,
        errors: int,
        p99: float | None,
        reason: str,
    ) -> CanaryState:
        """The end the controller measured: `promoted` or `rolled_back` (with why)."""
        step = CanaryStep(weight=weight, at=now, result=status, calls=calls, errors=errors,
                          p99=p99, reason=reason)  # fmt: skip
        return self.model_copy(
            update={"weight": weight, "since": now, "status": status,
                    "steps": _kept(self.steps, step)}
        )  # fmt: skip

    def aborted(self, now: float) -> CanaryState:
        """Stopped when asked, back to the weights before it."""
        step = CanaryStep(weight=self.origin.get(self.request.to, 0), at=now, result="aborted")
        return self.model_copy(update={"status": "aborted", "steps": (*self.steps, step)})

    @property
    def running(self) -> bool:
        """Whether it still shifts weight."""
        return self.status == "running"

    def label(self) -> str:
        """The JSON kept in the label."""
        return self.model_dump_json(by_alias=True)


def canary_state(raw: str | None) -> CanaryState | None:
    """The canary kept in a label, or None if none (or unreadable: nothing to continue)."""
    if not raw:
        return None
    try:
        return CanaryState.model_validate_json(raw, by_alias=True, by_name=True)
    except ValidationError:
        return None


def _kept(steps: tuple[CanaryStep, ...], step: CanaryStep) -> tuple[CanaryStep, ...]:
    return (*steps, step)[-MAX_STEPS_KEPT:]
