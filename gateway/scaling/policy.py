"""Scaling decisions, pure: labels → `ScalingPolicy`, and load samples → a replica count.

Nothing here does I/O or reads a clock: `ReplicaPlanner.observe` is handed the time, the
function's desired replicas and what the gateway saw of its load, and answers with the
replica count to set (or None). The autoscaler loop (`gateway.scaling.autoscaler`) feeds
it; the tests drive it with a fake clock.

Service labels: `com.faas.scale.*`, and OpenFaaS's `com.openfaas.scale.*` twins of the
same meaning (`gateway.labels.OPENFAAS_SCALE_LABELS`): one parser per value, in
`gateway.labels`. Where both forms set a value, `com.faas.scale.*` wins; any OpenFaaS
scaling label makes OpenFaaS's defaults (`OPENFAAS_DEFAULTS`) apply to what neither sets.
The table of both is in docs/scaling.md ("Labels").
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
    TARGET_PROPORTION_LABEL,
    TYPE_LABEL,
    ZERO_AFTER_LABEL,
    ZERO_LABEL,
    LabelProblem,
    openfaas_scaling,
    parse_bool,
    parse_duration,
    parse_number,
    parse_percent,
    parse_proportion,
    parse_replicas,
    parse_scale_type,
    scale_label,
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

    `type` is what a replica's load is measured in (`capacity`: calls in flight, `rps`:
    calls started per second, `cpu`: millicores); the autoscaler aims at
    `target * target_proportion` of it per replica.
    """

    min_replicas: int = 1
    max_replicas: int = 20
    target: float = 5.0
    cooldown: float = 30.0
    zero: bool = False
    zero_after: float = 300.0
    factor: int = 20
    owned: bool = False
    type: str = "capacity"
    target_proportion: float = 1.0

    @property
    def fixed(self) -> bool:
        """`min == max`: load does not change the replicas (OpenFaaS's way to turn
        scaling off); scale to zero still applies if `zero` is on."""
        return self.min_replicas == self.max_replicas

    @property
    def per_replica(self) -> float:
        """The load one replica is aimed at."""
        return self.target * self.target_proportion


OPENFAAS_DEFAULTS = ScalingPolicy(target=50.0, zero_after=900.0, type="rps", target_proportion=0.9)
"""The defaults of a function with any `com.openfaas.scale.*` label (docs.openfaas.com,
"Auto-scaling": target 50, target-proportion 0.90, type rps, zero-duration 15m; min 1,
max 20 and zero false as ours)."""


def policy_from_labels(labels: Mapping[str, str]) -> tuple[ScalingPolicy, list[LabelProblem]]:
    """The policy `labels` describe, and the labels that were ignored as invalid."""
    defaults = OPENFAAS_DEFAULTS if openfaas_scaling(labels) else ScalingPolicy()
    problems: list[LabelProblem] = []

    def read(label: str, parse: Callable[[str], T | None], default: T) -> T:
        given = scale_label(labels, label)
        if given is None:
            return default
        value = parse(given[1])
        if value is None:
            problems.append(LabelProblem(*given, PLATFORM_LABELS[label].expected))
            return default
        return value

    minimum = read(MIN_LABEL, parse_replicas, defaults.min_replicas)
    maximum = read(MAX_LABEL, parse_replicas, defaults.max_replicas)
    if maximum < minimum:
        label = (scale_label(labels, MAX_LABEL) or (MAX_LABEL, ""))[0]
        problems.append(LabelProblem(label, str(maximum), f"at least min ({minimum})"))
        maximum = minimum
    zero = read(ZERO_LABEL, parse_bool, defaults.zero)
    given_min = scale_label(labels, MIN_LABEL)
    min_given = given_min is not None and parse_replicas(given_min[1]) is not None
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
            type=read(TYPE_LABEL, parse_scale_type, defaults.type),
            target_proportion=read(
                TARGET_PROPORTION_LABEL, parse_proportion, defaults.target_proportion
            ),
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
    (a counter), calls in flight now, and the millicores its replicas used together since
    the last look (None: not measured, as for functions whose `type` is not `cpu`)."""

    started: int = 0
    inflight: int = 0
    cpu: float | None = None


@dataclass
class ReplicaPlanner:
    """The scaling state of one function, fed one sample per control-loop tick.

    - Scale up at once to `ceil(load / (target * target_proportion))`, bounded by the floor
      and `max`; the load is the function's calls in flight (`capacity`), calls started
      per second since the last sample (`rps`) or millicores (`cpu`; not measured: the
      replicas stay as they are), summed over its replicas.
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
    # The last sample `observe` saw, for calls per second (None before the first).
    last_seen: float | None = None

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
        rate = self._rate(now, load.started)
        if load.inflight > 0 or load.started != self.last_started:
            self.last_active = now
        self.last_started = load.started
        if replicas <= 0:
            self.wanted.clear()
            return None
        floor = self.floor(policy)
        ceiling = max(policy.max_replicas, floor)
        demand = {"capacity": float(load.inflight), "rps": rate, "cpu": load.cpu}[policy.type]
        # A hair below each whole number: 15 calls at 5 a replica need 3, not 3.0000001.
        need = replicas if demand is None else math.ceil(demand / policy.per_replica - 1e-9)
        wanted = min(max(need, floor), ceiling)
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

    def _rate(self, now: float, started: int) -> float:
        """Calls started per second since the last sample (0 for the first, or when the
        counter went back: a gateway worker restarted)."""
        last_seen, self.last_seen = self.last_seen, now
        if last_seen is None or now <= last_seen or started < self.last_started:
            return 0.0
        return (started - self.last_started) / (now - last_seen)

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
