"""Scaling decisions, pure: labels → `ScalingPolicy`, and load samples → a replica count.

Nothing here does I/O or reads a clock: `ReplicaPlanner.observe` is handed the time, the
function's desired replicas and what the gateway saw of its load, and answers with the
replica count to set (or None). The autoscaler loop (`gateway.scaling.autoscaler`) feeds
it; the tests drive it with a fake clock.

Service labels, prefix `com.faas.scale.` (documented in docs/scaling.md; their values are
parsed in `gateway.labels`, which bounds `min` and `max` by the API's `MAX_REPLICAS`):

| label | default | meaning |
|---|---|---|
| `min` | 1 | fewest replicas while the function is in use (1 to 100) |
| `max` | 20 | most replicas the autoscaler sets (1 to 100) |
| `target` | 5 | calls in flight per replica the autoscaler aims for |
| `cooldown` | 30s | a scale-down waits until the replicas have not changed for this |
| | | long, and goes no lower than the most replicas wanted within it |
| `zero` | false | `true`: after `zero_after` idle, 0 replicas; a call wakes it |
| `zero_after` | 5m | idle time before scale to zero |
| `factor` | 20 | Alertmanager webhook: a firing alert adds this percentage of `max` |
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.labels import (
    COOLDOWN_LABEL,
    FACTOR_LABEL,
    MAX_LABEL,
    MIN_LABEL,
    PLATFORM_LABELS,
    TARGET_LABEL,
    ZERO_AFTER_LABEL,
    ZERO_LABEL,
    LabelProblem,
    parse_bool,
    parse_duration,
    parse_number,
    parse_percent,
    parse_replicas,
)

__all__ = ["LabelProblem", "parse_duration"]  # re-exported: part of this module's interface

T = TypeVar("T")


@dataclass(frozen=True)
class ScalingPolicy:
    """How one function scales, from its labels. Defaults are the documented ones.

    `owned`: a `min` or `zero=true` label puts the replica count in the autoscaler's
    hands between the bounds. Without either, the count its owner set (stack file,
    `docker service scale`, `/system/scale-function`) is the floor: the autoscaler adds
    replicas under load and only ever takes back the ones it added.
    """

    min_replicas: int = 1
    max_replicas: int = 20
    target: float = 5.0
    cooldown: float = 30.0
    zero: bool = False
    zero_after: float = 300.0
    factor: int = 20
    owned: bool = False


def policy_from_labels(labels: Mapping[str, str]) -> tuple[ScalingPolicy, list[LabelProblem]]:
    """The policy `labels` describe, and the labels that were ignored as invalid."""
    defaults = ScalingPolicy()
    problems: list[LabelProblem] = []

    def read(label: str, parse: Callable[[str], T | None], default: T) -> T:
        raw = labels.get(label)
        if raw is None or not raw.strip():
            return default
        value = parse(raw)
        if value is None:
            problems.append(LabelProblem(label, raw, PLATFORM_LABELS[label].expected))
            return default
        return value

    minimum = read(MIN_LABEL, parse_replicas, defaults.min_replicas)
    maximum = read(MAX_LABEL, parse_replicas, defaults.max_replicas)
    if maximum < minimum:
        problems.append(LabelProblem(MAX_LABEL, str(maximum), f"at least min ({minimum})"))
        maximum = minimum
    zero = read(ZERO_LABEL, parse_bool, defaults.zero)
    min_given = bool(labels.get(MIN_LABEL, "").strip()) and all(
        problem.label != MIN_LABEL for problem in problems
    )
    return (
        ScalingPolicy(
            min_replicas=minimum,
            max_replicas=maximum,
            target=read(TARGET_LABEL, parse_number, defaults.target),
            cooldown=read(COOLDOWN_LABEL, parse_duration, defaults.cooldown),
            zero=zero,
            zero_after=read(ZERO_AFTER_LABEL, parse_duration, defaults.zero_after),
            factor=read(FACTOR_LABEL, parse_percent, defaults.factor),
            owned=zero or min_given,
        ),
        problems,
    )


def alert_replicas(policy: ScalingPolicy, current: int, firing: bool) -> int:
    """OpenFaaS's rule for Alertmanager webhooks: firing adds `factor`% of `max` (at least
    one replica, at most `max`); resolved goes back to `min`."""
    if not firing:
        return policy.min_replicas
    step = math.ceil(policy.max_replicas * policy.factor / 100)
    if step <= 0:
        return current
    return min(max(current, 0) + step, max(policy.max_replicas, current))


@dataclass(frozen=True)
class Load:
    """What the gateway saw of one function at one moment: calls started since it began
    (a counter) and calls in flight now."""

    started: int = 0
    inflight: int = 0


@dataclass
class ReplicaPlanner:
    """The scaling state of one function, fed one sample per control-loop tick.

    - Scale up at once to `ceil(inflight / target)`, bounded by the floor and `max`.
    - Scale down only when the replicas have not changed for `cooldown` seconds (nor since
      the planner first saw the function), and only to the highest count wanted within
      that window: oscillating load keeps the replicas up instead of flapping.
    - Scale to zero (`zero=true`) after `zero_after` seconds without a call started or in
      flight; the caller must re-check that nothing is in flight before acting.
    - A function at 0 replicas is left alone: waking it is the cold-start path's job.
    """

    first_seen: float
    last_active: float
    last_started: int = 0
    last_replicas: int | None = None
    last_change: float = 0.0
    # Replicas set by the autoscaler itself (to tell its changes from the owner's).
    last_set: int | None = None
    baseline: int = 1
    # A floor set by a firing Alertmanager alert, until it is resolved.
    alert_floor: int = 0
    wanted: deque[tuple[float, int]] = field(default_factory=deque)

    @classmethod
    def start(cls, now: float, load: Load) -> ReplicaPlanner:
        """A planner that has just seen the function for the first time."""
        return cls(first_seen=now, last_active=now, last_started=load.started, last_change=now)

    def floor(self, policy: ScalingPolicy) -> int:
        """Fewest replicas while the function is in use."""
        floor = policy.min_replicas if policy.owned else max(1, self.baseline)
        return max(floor, self.alert_floor)

    def observe(self, now: float, policy: ScalingPolicy, replicas: int, load: Load) -> int | None:
        """The replica count to set now, or None to leave it as it is."""
        self._follow_replicas(now, replicas)
        if load.inflight > 0 or load.started != self.last_started:
            self.last_active = now
        self.last_started = load.started
        if replicas <= 0:
            self.wanted.clear()
            return None
        floor = self.floor(policy)
        ceiling = max(policy.max_replicas, floor)
        wanted = min(max(math.ceil(load.inflight / policy.target), floor), ceiling)
        self.wanted.append((now, wanted))
        while self.wanted and self.wanted[0][0] < now - policy.cooldown:
            self.wanted.popleft()
        if wanted > replicas:
            return wanted
        if (
            policy.zero
            and load.inflight == 0
            and self.alert_floor == 0
            and now - self.last_active >= policy.zero_after
        ):
            return 0
        if now - self.last_change < policy.cooldown:
            return None
        stable = max(count for _, count in self.wanted)
        return stable if stable < replicas else None

    def scaled(self, now: float, replicas: int) -> None:
        """Record that the autoscaler (or the cold-start path) set `replicas`.

        The provider's view may lag behind: only a later `observe` of `replicas` counts
        as the change having happened, and it is then known to be ours.
        """
        self.last_set = replicas
        self.last_change = now
        self.wanted.clear()
        if replicas > 0:
            self.last_active = max(self.last_active, now)

    def _follow_replicas(self, now: float, replicas: int) -> None:
        if self.last_replicas is None:
            self.baseline = replicas
        elif replicas != self.last_replicas:
            self.last_change = now
            self.wanted.clear()
            if replicas != self.last_set:  # someone else scaled it: that is the owner's count
                self.baseline = replicas
                self.last_set = None
        self.last_replicas = replicas
