"""`CallBatch`: a loop pass's calls written together, calls in flight visible at once."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

from gateway.metrics.batch import CallBatch, observe_all

Written = tuple[dict[str, int], dict[str, int], dict[tuple[str, int], list[float]]]


def test_a_pass_is_written_once_at_its_end() -> None:
    writes: list[Written] = []

    async def main() -> None:
        batch = CallBatch(asyncio.get_running_loop(), lambda *w: writes.append(w))
        batch.started("f")  # idle in the files: written at once
        assert writes == [({"f": 1}, {"f": 1}, {})]
        batch.started("f")
        batch.finished("f", 200, 0.5)
        batch.finished("f", 200, 0.25)
        assert len(writes) == 1
        await asyncio.sleep(0)
        assert writes[1:] == [({"f": 1}, {"f": -1}, {("f", 200): [0.5, 0.25]})]
        batch.started("f")  # idle again in the files: written at once
        assert writes[2:] == [({"f": 1}, {"f": 1}, {})]
        batch.finished("f", 502, 1.0)
        batch.flush()
        assert writes[3:] == [({}, {"f": -1}, {("f", 502): [1.0]})]
        await asyncio.sleep(0)
        assert len(writes) == 4

    asyncio.run(main())


def test_a_call_in_flight_never_reads_idle() -> None:
    inflight: dict[str, int] = {}

    def write(_: dict[str, int], change: dict[str, int], __: object) -> None:
        for name, delta in change.items():
            inflight[name] = inflight.get(name, 0) + delta

    async def main() -> None:
        batch = CallBatch(asyncio.get_running_loop(), write)
        open_calls = 0
        for step in range(200):
            if step % 3 == 2 and open_calls:
                batch.finished("f", 200, 0.1)
                open_calls -= 1
            else:
                batch.started("f")
                open_calls += 1
            assert open_calls == 0 or inflight.get("f", 0) > 0
            if step % 7 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert inflight["f"] == open_calls

    asyncio.run(main())


def test_observe_all_matches_observe() -> None:
    durations = [0.001, 0.005, 0.0051, 0.3, 2.5, 10.0, 11.0, 0.0]

    def histogram() -> Histogram:
        return Histogram("h", "h", ["f"], registry=CollectorRegistry()).labels("x")

    one_by_one, together = histogram(), histogram()
    for seconds in durations:
        one_by_one.observe(seconds)
    observe_all(together, durations)
    assert [s.value for s in together._samples()] == [s.value for s in one_by_one._samples()]
