"""Scaling decisions (`gateway.scaling.policy`): labels, and the planner on a fake clock.

Time is a plain number handed to `observe`: no test waits for anything.
"""

from __future__ import annotations

import dataclasses

import pytest

from gateway.scaling.policy import (
    OPENFAAS_DEFAULTS,
    Load,
    ReplicaPlanner,
    ScalingPolicy,
    alert_replicas,
    parse_duration,
    policy_from_labels,
)

OWNED = ScalingPolicy(min_replicas=1, max_replicas=4, target=5, cooldown=30, owned=True)
ZERO = ScalingPolicy(
    min_replicas=1, max_replicas=4, target=5, cooldown=30, zero=True, zero_after=60, owned=True
)


def test_defaults_without_labels() -> None:
    policy, problems = policy_from_labels({})
    assert policy == ScalingPolicy()
    assert (policy.min_replicas, policy.max_replicas, policy.target) == (1, 20, 5.0)
    assert (policy.cooldown, policy.zero, policy.zero_after, policy.factor) == (30, False, 300, 20)
    assert not policy.owned
    assert problems == []


def test_every_label() -> None:
    policy, problems = policy_from_labels(
        {
            "com.faas.scale.min": "2",
            "com.faas.scale.max": "7",
            "com.faas.scale.target": "2.5",
            "com.faas.scale.cooldown": "1m30s",
            "com.faas.scale.zero": "TRUE",
            "com.faas.scale.zero_after": "10s",
            "com.faas.scale.factor": "50",
            "unrelated": "x",
        }
    )
    assert problems == []
    assert policy == ScalingPolicy(2, 7, 2.5, 90.0, True, 10.0, 50, owned=True)


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("min", "0"), ("min", "-1"), ("min", "one"), ("max", "0"), ("target", "0"),
        ("target", "inf"), ("cooldown", "soon"), ("cooldown", "-5s"), ("zero", "maybe"),
        ("zero_after", "5 minutes"), ("factor", "101"), ("factor", "1.5"),
    ],
)  # fmt: skip
def test_invalid_labels_fall_back_to_defaults(label: str, value: str) -> None:
    policy, problems = policy_from_labels({f"com.faas.scale.{label}": value})
    assert policy == ScalingPolicy()
    assert [problem.label for problem in problems] == [f"com.faas.scale.{label}"]
    assert value in str(problems[0])
    assert "using the default" in str(problems[0])


def test_max_below_min_is_raised_to_min() -> None:
    policy, problems = policy_from_labels({"com.faas.scale.min": "3", "com.faas.scale.max": "2"})
    assert (policy.min_replicas, policy.max_replicas) == (3, 3)
    assert "at least min (3)" in str(problems[0])


def test_min_or_zero_label_hands_the_replicas_to_the_autoscaler() -> None:
    assert policy_from_labels({"com.faas.scale.min": "1"})[0].owned
    assert policy_from_labels({"com.faas.scale.zero": "true"})[0].owned
    assert not policy_from_labels({"com.faas.scale.zero": "false"})[0].owned
    assert not policy_from_labels({"com.faas.scale.max": "5"})[0].owned
    assert not policy_from_labels({"com.faas.scale.min": "zero"})[0].owned


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("2.5", 2.5), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0),
     ("1m30s", 90.0), ("1h", 3600.0), ("0", 0.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "5 m", "5d", "-1", "1e10", "nan"])
def test_invalid_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_alert_replicas_follow_openfaas() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=20, factor=20)
    assert alert_replicas(policy, 1, firing=True) == 5  # +ceil(20 * 20%)
    assert alert_replicas(policy, 5, firing=True) == 9
    assert alert_replicas(policy, 18, firing=True) == 20  # capped at max
    assert alert_replicas(policy, 9, firing=False) == 1  # resolved: back to min
    assert alert_replicas(ScalingPolicy(max_replicas=3, factor=10), 1, firing=True) == 2
    assert alert_replicas(ScalingPolicy(factor=0), 3, firing=True) == 3  # factor 0: off


def run(
    planner: ReplicaPlanner, policy: ScalingPolicy, replicas: int, samples: list[tuple[float, Load]]
) -> list[tuple[float, int]]:
    """Feed samples; apply every decision at once (the provider follows immediately)."""
    decisions = []
    for now, load in samples:
        wanted = planner.observe(now, policy, replicas, load)
        if wanted is not None:
            planner.scaled(now, wanted)
            replicas = wanted
            decisions.append((now, wanted))
    return decisions


def ticks(start: float, end: float, load: Load, step: float = 2.0) -> list[tuple[float, Load]]:
    count = int((end - start) / step)
    return [(start + i * step, load) for i in range(count)]


def test_scales_up_at_once_to_the_target_concurrency() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    assert planner.observe(0.0, OWNED, 1, Load(started=0, inflight=5)) is None  # 5/5: one
    assert planner.observe(2.0, OWNED, 1, Load(started=9, inflight=6)) == 2
    assert planner.observe(4.0, OWNED, 1, Load(started=20, inflight=16)) == 4
    assert planner.observe(6.0, OWNED, 1, Load(started=90, inflight=300)) == 4  # max


def test_scales_down_only_after_the_cooldown_to_the_highest_recent_need() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    assert run(planner, OWNED, 1, [(0.0, Load(10, 20))]) == [(0.0, 4)]
    # Load falls to one replica's worth at t=10, then to nothing at t=40.
    samples = ticks(2.0, 10.0, Load(20, 20)) + ticks(10.0, 40.0, Load(30, 8))
    samples += ticks(40.0, 120.0, Load(30, 0))
    decisions = run(planner, OWNED, 4, samples)
    # The cooldown counts from when the provider's view showed the change (t=2). At 40
    # the last 30s saw at most 8 in flight: 2 replicas. At 72 (30s after the view showed
    # 2) the window only holds idle samples: 1.
    assert decisions == [(40.0, 2), (72.0, 1)]


def test_flapping_load_does_not_flap_the_replicas() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    samples = [(t * 2.0, Load(t, 20 if t % 2 == 0 else 0)) for t in range(200)]
    assert run(planner, OWNED, 1, samples) == [(0.0, 4)]


def test_no_scale_down_before_the_cooldown_after_first_seeing_a_function() -> None:
    planner = ReplicaPlanner.start(100.0, Load())
    decisions = run(planner, OWNED, 3, ticks(100.0, 140.0, Load()))
    assert decisions == [(130.0, 1)]


def test_unlabelled_function_keeps_its_owners_replicas_as_the_floor() -> None:
    policy = ScalingPolicy(max_replicas=20, target=5, cooldown=30)  # no min label: not owned
    planner = ReplicaPlanner.start(0.0, Load())
    decisions = run(planner, policy, 3, ticks(0.0, 60.0, Load()))
    assert decisions == []  # never below the 3 its owner set
    decisions = run(planner, policy, 3, [(60.0, Load(5, 25)), *ticks(62.0, 200.0, Load(5, 0))])
    assert decisions == [(60.0, 5), (92.0, 3)]  # adds under load, gives back what it added


def test_owners_change_moves_the_floor_and_own_changes_do_not() -> None:
    policy = ScalingPolicy(target=5, cooldown=30)
    planner = ReplicaPlanner.start(0.0, Load())
    assert planner.observe(0.0, policy, 1, Load()) is None
    assert planner.observe(2.0, policy, 1, Load(1, 20)) == 4
    planner.scaled(2.0, 4)
    # The provider's view lags: still 1, then 4. Neither is the owner's doing.
    assert planner.observe(4.0, policy, 1, Load(2, 20)) == 4
    planner.scaled(4.0, 4)
    assert planner.observe(6.0, policy, 4, Load(3, 20)) is None
    assert planner.baseline == 1
    # The owner scales to 6 by hand: that becomes the floor.
    assert planner.observe(8.0, policy, 6, Load(3, 0)) is None
    assert planner.baseline == 6
    assert run(planner, policy, 6, ticks(10.0, 100.0, Load(3, 0))) == []


def test_min_label_owns_the_count_even_after_a_manual_scale() -> None:
    policy = ScalingPolicy(min_replicas=2, target=5, cooldown=30, owned=True)
    planner = ReplicaPlanner.start(0.0, Load())
    assert run(planner, policy, 5, ticks(0.0, 40.0, Load())) == [(30.0, 2)]


def test_scale_to_zero_after_the_idle_time() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    decisions = run(planner, ZERO, 1, ticks(0.0, 100.0, Load(0, 0)))
    assert decisions == [(60.0, 0)]
    # At 0 replicas the planner leaves the function to the cold-start path.
    assert run(planner, ZERO, 0, ticks(100.0, 500.0, Load(0, 0))) == []


def test_calls_reset_the_idle_time_and_calls_in_flight_block_it() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    # A call starts at t=50 (the counter moves), one stays in flight from 100 to 200.
    samples = ticks(0.0, 50.0, Load(0, 0)) + ticks(50.0, 100.0, Load(1, 0))
    samples += ticks(100.0, 200.0, Load(2, 1)) + ticks(200.0, 400.0, Load(2, 0))
    decisions = run(planner, ZERO, 1, samples)
    assert decisions == [(258.0, 0)]  # 60s after the last sample that saw a call in flight


def test_unlabelled_function_never_goes_to_zero() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    assert run(planner, ScalingPolicy(), 1, ticks(0.0, 3600.0, Load(), step=10.0)) == []


def test_an_alert_floor_holds_replicas_and_blocks_scale_to_zero() -> None:
    planner = ReplicaPlanner.start(0.0, Load())
    planner.alert_floor = 3
    assert run(planner, ZERO, 1, ticks(0.0, 300.0, Load())) == [(0.0, 3)]
    planner.alert_floor = 0
    # Idle for long past zero_after: straight to 0 once the floor is gone.
    assert run(planner, ZERO, 3, ticks(300.0, 400.0, Load())) == [(300.0, 0)]


# OpenFaaS's labels (com.openfaas.scale.*), and what each `type` scales on.

OPENFAAS = "com.openfaas.scale."


def test_any_openfaas_label_brings_openfaas_defaults() -> None:
    policy, problems = policy_from_labels({OPENFAAS + "max": "5"})
    assert problems == []
    assert policy == dataclasses.replace(OPENFAAS_DEFAULTS, max_replicas=5)
    assert (policy.min_replicas, policy.target, policy.target_proportion) == (1, 50.0, 0.9)
    assert (policy.type, policy.zero, policy.zero_after) == ("rps", False, 900.0)
    # Our own form, or none at all, keeps ours.
    assert policy_from_labels({"com.faas.scale.max": "5"})[0].type == "capacity"
    assert (ScalingPolicy().type, ScalingPolicy().target_proportion) == ("capacity", 1.0)


def test_every_openfaas_label() -> None:
    policy, problems = policy_from_labels(
        {
            OPENFAAS + "min": "2",
            OPENFAAS + "max": "7",
            OPENFAAS + "target": "100",
            OPENFAAS + "target-proportion": "0.5",
            OPENFAAS + "type": "CPU",
            OPENFAAS + "zero": "true",
            OPENFAAS + "zero-duration": "1m30s",
            OPENFAAS + "factor": "50",
        }
    )
    assert problems == []
    expected = ScalingPolicy(2, 7, 100.0, 30.0, True, 90.0, 50, True, "cpu", 0.5)
    assert policy == expected


@pytest.mark.parametrize(
    ("label", "ours", "theirs", "value"),
    [
        ("min", "2", "3", 2), ("max", "4", "9", 4), ("target", "5", "50", 5.0),
        ("type", "capacity", "rps", "capacity"), ("zero", "false", "true", False),
        ("target_proportion", "1", "0.5", 1.0), ("zero_after", "10s", "20s", 10.0),
        ("factor", "10", "90", 10),
    ],
)  # fmt: skip
def test_our_label_wins_over_its_openfaas_twin(
    label: str, ours: str, theirs: str, value: object
) -> None:
    twin = OPENFAAS + label.replace("_after", "-duration").replace("_", "-")
    policy, problems = policy_from_labels({f"com.faas.scale.{label}": ours, twin: theirs})
    field = {"min": "min_replicas", "max": "max_replicas", "zero_after": "zero_after"}
    assert problems == []
    assert getattr(policy, field.get(label, label)) == value


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("min", "0"), ("max", "101"), ("target", "0"), ("target-proportion", "0"),
        ("target-proportion", "11"), ("type", "memory"), ("zero", "maybe"),
        ("zero-duration", "soon"), ("factor", "200"),
    ],
)  # fmt: skip
def test_invalid_openfaas_labels_are_named_and_fall_back(label: str, value: str) -> None:
    policy, problems = policy_from_labels({OPENFAAS + label: value})
    assert policy == OPENFAAS_DEFAULTS
    assert [problem.label for problem in problems] == [OPENFAAS + label]


def test_max_below_min_across_the_forms_is_named() -> None:
    policy, problems = policy_from_labels({"com.faas.scale.min": "4", OPENFAAS + "max": "2"})
    assert (policy.min_replicas, policy.max_replicas) == (4, 4)
    assert [problem.label for problem in problems] == [OPENFAAS + "max"]


def test_capacity_aims_at_the_target_proportion_of_calls_in_flight() -> None:
    exact = ScalingPolicy(max_replicas=10, target=5, owned=True)
    early = dataclasses.replace(exact, target_proportion=0.9)
    # OpenFaaS's example: 15 calls in flight, target 5: 3 replicas; at 90%: 15 / 4.5 → 4.
    assert ReplicaPlanner.start(0.0, Load()).observe(0.0, exact, 1, Load(0, 15)) == 3
    assert ReplicaPlanner.start(0.0, Load()).observe(0.0, early, 1, Load(0, 15)) == 4


def test_rps_scales_on_calls_started_per_second() -> None:
    policy = dataclasses.replace(OPENFAAS_DEFAULTS, owned=True)  # 50 x 0.9: 45 a replica
    planner = ReplicaPlanner.start(0.0, Load())
    assert planner.observe(0.0, policy, 1, Load(started=0)) is None  # no rate yet
    assert planner.observe(2.0, policy, 1, Load(started=80)) is None  # 40/s: one
    assert planner.observe(4.0, policy, 1, Load(started=280, inflight=1)) == 3  # 100/s
    # Calls in flight do not count in rps mode; a counter that went back is no rate.
    assert planner.observe(6.0, policy, 3, Load(started=280, inflight=500)) is None
    assert planner.observe(8.0, policy, 3, Load(started=10)) is None


def test_rps_scales_down_after_the_cooldown_once_calls_stop() -> None:
    policy = dataclasses.replace(OPENFAAS_DEFAULTS, max_replicas=4, owned=True)
    planner = ReplicaPlanner.start(0.0, Load())
    samples = [(t * 2.0, Load(started=t * 200)) for t in range(10)]  # 100/s
    samples += [(20.0 + t * 2.0, Load(started=1800)) for t in range(40)]
    assert run(planner, policy, 1, samples) == [(2.0, 3), (50.0, 1)]


def test_cpu_scales_on_measured_millicores_and_holds_when_unmeasured() -> None:
    policy = ScalingPolicy(max_replicas=10, target=500, type="cpu", owned=True)
    planner = ReplicaPlanner.start(0.0, Load())
    assert planner.observe(0.0, policy, 1, Load(inflight=90)) is None  # not measured
    assert planner.observe(2.0, policy, 1, Load(cpu=1400.0)) == 3  # 1.4 cores / 0.5
    assert planner.observe(4.0, policy, 3, Load(cpu=None)) is None
    assert run(planner, policy, 3, ticks(6.0, 60.0, Load(cpu=100.0))) == [(36.0, 1)]


def test_min_equal_to_max_does_not_scale_on_load() -> None:
    policy, _ = policy_from_labels({OPENFAAS + "min": "2", OPENFAAS + "max": "2"})
    assert policy.fixed
    assert policy.owned
    planner = ReplicaPlanner.start(0.0, Load())
    busy = [(t * 2.0, Load(started=t * 1000, inflight=500)) for t in range(60)]
    assert run(planner, policy, 2, busy) == []
    # Below it (scaled by hand), it goes back up to min at once.
    assert planner.observe(200.0, policy, 1, Load()) == 2


def test_openfaas_zero_duration_parks_an_idle_function() -> None:
    policy, _ = policy_from_labels({OPENFAAS + "zero": "true"})
    planner = ReplicaPlanner.start(0.0, Load())
    assert run(planner, policy, 1, ticks(0.0, 1000.0, Load(), step=10.0)) == [(900.0, 0)]
