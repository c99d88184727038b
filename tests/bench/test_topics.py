"""The topics bench's pure parts: its functions follow its subject; `bounded` bounds."""

from __future__ import annotations

import asyncio

from bench.topics import SUBJECT, bounded, subscribers
from gateway.triggers.connectors import topic_triggers


def test_every_subscriber_names_the_benchs_subject() -> None:
    found = topic_triggers(subscribers(10))
    assert list(found) == [SUBJECT]
    assert [name for name, _ in found[SUBJECT]] == [f"f{n}" for n in range(10)]


def test_bounded_runs_every_job_and_never_more_than_asked_at_once() -> None:
    running = peak = done = 0

    async def job() -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        done += 1

    asyncio.run(bounded([job] * 50, 4))
    assert (done, peak) == (50, 4)
