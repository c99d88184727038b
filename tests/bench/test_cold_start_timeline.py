"""bench.cold_start's timeline, from engine events and log lines written here (no engine)."""

from __future__ import annotations

from bench.cold_start import (
    PHASES,
    Wake,
    listening_moment,
    moments_from_events,
    parse_engine_time,
    summary,
)

T0 = parse_engine_time("2026-12-01T12:00:00Z")


def event(kind: str, action: str, at: float, **attributes: str) -> dict[str, object]:
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": "x", "Attributes": attributes},
        "timeNano": int(at * 1e9),
    }


def test_engine_times_keep_their_fraction() -> None:
    assert parse_engine_time("2026-12-01T12:00:00.250000999Z") - T0 == 0.25
    assert parse_engine_time("2026-12-01T12:00:01.5+00:00") - T0 == 1.5


def test_moments_are_the_first_of_each_phase_for_the_service_after_the_call() -> None:
    label = {"com.docker.swarm.service.name": "cold"}
    events = [
        event("service", "update", T0 - 5, name="cold"),  # before the call: not this wake
        event("service", "update", T0 + 0.02, name="cold"),
        event("service", "update", T0 + 0.03, name="other"),
        event("container", "create", T0 + 0.3, **label),
        event("container", "start", T0 + 0.4, **label),
        event("container", "exec_start: test -f /tmp/.lock", T0 + 1.0, **label),
        event("container", "health_status: healthy", T0 + 1.4, **label),
        event("container", "start", T0 + 9, **label),
    ]
    found = moments_from_events(events, "cold", T0)
    assert {phase: round(at - T0, 3) for phase, at in found.items()} == {
        "scale request": 0.02,
        "container created": 0.3,
        "container started": 0.4,
        "healthy (DNS)": 1.4,
    }


def test_the_watchdogs_listening_line_and_the_medians() -> None:
    lines = [
        "2026-12-01T12:00:00.500000000Z fwatchdog: starting",
        "2026-12-01T12:00:00.600000000Z fwatchdog: listening on port 8080, mode=fork",
    ]
    listening = listening_moment(lines)
    assert listening is not None
    assert round(listening - T0, 3) == 0.6
    wakes = [
        Wake(T0, T0 + 0.7, [200], {"watchdog listening": T0 + 0.6}),
        Wake(T0, T0 + 0.9, [200], {}),
        Wake(T0, T0 + 0.8, [200], {"watchdog listening": T0 + 0.4}),
    ]
    medians = dict(summary(wakes))
    assert list(medians) == list(PHASES)
    assert medians["scale request"] is None
    assert round(medians["watchdog listening"] or 0, 3) == 0.5
    assert round(medians["first answer"] or 0, 3) == 0.8
