"""`CronScheduler`: fires every schedule trigger at each of its ticks, exactly once.

Exactly once, whatever runs it: only the holder of the lease (`LeaderLease`, the
triggers service's own in Swarm) fires, and each tick is queued under a key of its
function, trigger and moment (`firing.tick_key`), so a tick fired twice (two schedulers
both believing they lead, a new leader firing again a tick the old one was firing when it
died) is stored once: within the idempotency window by JetStream's `Nats-Msg-Id`, after
it by the call's status record.

When it takes the lease (at start, or from a leader that stopped), it fires the ticks of
the last `grace` seconds again (each at most once, by its key): those a leader that
died mid-tick may have missed. Older missed ticks are skipped, unless the trigger says
`catch_up=true`: then the last one is fired. A firing the queue refused (broker away or
full) is tried again on each pass while its tick is within the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.providers.base import Function, LeaderLease
from gateway.triggers.annotations import Trigger, TriggerProblem, parse_triggers
from gateway.triggers.firing import Firing, tick_firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.versions.model import VERSION_OF_LABEL

log = logging.getLogger("gateway.triggers")

TAKEOVER_GRACE = 15.0
"""Seconds of past ticks a new leader fires again (deduplicated): longer than a leader
change takes (the lease's term, `LEASE_TERM`, and a renewal). A restart cannot be told
from a leader change, so a scheduler starting fires the ticks of these seconds late too;
older ones are skipped."""
LEASE_TERM = 10.0
"""Seconds the scheduler's lease lasts; it is renewed every `LEASE_RENEW` seconds."""
LEASE_RENEW = 2.0
REFRESH_SECONDS = 1.0
"""How often the functions' labels are read again (from the provider's memory)."""
FIRE_CONCURRENCY = 64
"""Firings queued at once (a minute's first second can hold thousands)."""
MAX_TICKS_PER_PASS = 60
"""Ticks of one trigger fired in one pass (a per-second schedule after a stall)."""
PREPARE_AHEAD = 1.0
"""Seconds before a tick its firings are prepared (`prepare`: the calls' status records
written), so that at the moment only the messages are sent."""

Fire = Callable[[Firing], Awaitable[object]]
FireMany = Callable[[Sequence[Firing]], Awaitable[Sequence[object]]]
"""Fires many at once (a tick's): per firing, in order, a `GatewayError` if it failed."""
Prepare = Callable[[Sequence[Firing]], Awaitable[object]]
"""Readies the firings of a tick to come (`FiringQueue.prepare`)."""
Key = tuple[str, str]  # (function, trigger)


@dataclass
class _Entry:
    function: str
    trigger: Trigger
    next_tick: float
    following: float | None = None
    """The tick after `next_tick`, worked out ahead (a tick's pass then computes none)."""
    prepared: float | None = None
    """The tick last handed to `prepare`."""


def schedule_triggers(
    functions: Iterable[Function],
    problems: list[str] | None = None,
    parse: Callable[[Function], tuple[list[Trigger], list[TriggerProblem]]] | None = None,
) -> dict[Key, Trigger]:
    """Every schedule trigger of `functions` (a version's service has none of its own);
    `problems` gets each trigger label left out, as `<function>: <problem>`. `parse`:
    a function's triggers and problems (`parse_triggers` of its labels if None)."""
    found: dict[Key, Trigger] = {}
    for function in functions:
        if VERSION_OF_LABEL in function.labels:
            continue
        triggers, invalid = parse(function) if parse else parse_triggers(function.labels)
        if problems is not None:
            problems.extend(f"{function.name}: {problem}" for problem in invalid)
        for trigger in triggers:
            if trigger.schedule is not None:
                found[(function.name, trigger.name)] = trigger
    return found


class CronScheduler:
    """Fires the schedule triggers of `functions()` through `fire` while it holds `lease`;
    with `fire_many`, each pass's due ticks go through it together instead (a tick of
    many schedules is then one batch: `firing.FiringQueue`), and `prepare` readies
    them `PREPARE_AHEAD` seconds before."""

    def __init__(
        self,
        functions: Callable[[], Iterable[Function]],
        fire: Fire,
        lease: LeaderLease,
        metrics: TriggerMetrics,
        *,
        grace: float = TAKEOVER_GRACE,
        renew: float = LEASE_RENEW,
        clock: Callable[[], float] = time.time,
        fire_many: FireMany | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self._functions = functions
        self._fire = fire
        self._fire_many = fire_many
        self._prepare = prepare
        self._parsed: dict[str, tuple[dict[str, str], list[Trigger], list[TriggerProblem]]] = {}
        self._lease = lease
        self._metrics = metrics
        self._grace = grace
        self._renew = renew
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._retry: list[tuple[Key, float]] = []
        self._leading = False
        self._lease_due = 0.0
        self._refresh_due = 0.0
        self._warned: set[tuple[str, str]] = set()
        self._invalid: set[str] = set()
        self._limit = asyncio.Semaphore(FIRE_CONCURRENCY)

    @property
    def leading(self) -> bool:
        """Whether this scheduler held the lease at its last renewal."""
        return self._leading

    def next_ticks(self) -> Mapping[Key, float]:
        """Each schedule's next tick (Unix seconds)."""
        return {key: entry.next_tick for key, entry in self._entries.items()}

    async def run(self, stop: asyncio.Event) -> None:
        """Fire until `stop` is set; then give the lease up."""
        try:
            while not stop.is_set():
                delay = await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(delay, 0.0))
        finally:
            if self._leading:
                await self._lease.release()
                self._leading = False

    async def step(self) -> float:
        """One pass: renew the lease, read the triggers, fire what is due; the seconds
        until the next pass is needed."""
        now = self._clock()
        taking_over = False
        if now >= self._lease_due:
            held = await self._lease.hold()
            taking_over = held and not self._leading
            if held != self._leading:
                log.info("triggers: %s", "leading" if held else "another scheduler leads")
            self._leading, self._lease_due = held, now + self._renew
        if now >= self._refresh_due or taking_over:
            self._refresh(now)
            self._refresh_due = now + REFRESH_SECONDS
        if not self._leading:
            self._skip_until(now)
            return self._lease_due - now
        if taking_over:
            await self._fire_all(self._missed(now))
        due = [*self._retry, *self._due(now)]
        self._retry = []
        await self._fire_all(due)
        now = self._clock()
        await self._prepare_upcoming(now)
        soonest = min((entry.next_tick for entry in self._entries.values()), default=now + 60)
        waits = [soonest - now, self._lease_due - now, self._refresh_due - now]
        if self._prepare is not None:
            unprepared = (e.next_tick for e in self._entries.values() if e.prepared != e.next_tick)
            waits.append(min(unprepared, default=now + 60) - PREPARE_AHEAD - now)
        return max(0.0, min(waits)) if not self._retry else min(1.0, *waits)

    async def _prepare_upcoming(self, now: float) -> None:
        """Work out each schedule's tick after next, and `prepare` the ticks within
        `PREPARE_AHEAD` (each once)."""
        upcoming: list[Firing] = []
        for (function, _), entry in self._entries.items():
            schedule = entry.trigger.schedule
            assert schedule is not None
            if entry.following is None:
                entry.following = schedule.next_after(entry.next_tick)
            ready = self._prepare is None or entry.prepared == entry.next_tick
            if not ready and entry.next_tick <= now + PREPARE_AHEAD:
                entry.prepared = entry.next_tick
                upcoming.append(tick_firing(function, entry.trigger, entry.next_tick))
        if upcoming and self._prepare is not None:
            try:
                await self._prepare(upcoming)
            except GatewayError as error:  # the tick then goes the whole way
                log.warning("triggers: %d firings not prepared: %s", len(upcoming), error)

    def _refresh(self, now: float) -> None:
        problems: list[str] = []
        found = schedule_triggers(self._functions(), problems, self._parse)
        for problem in problems:
            if problem not in self._invalid:  # once each (GET /system/triggers lists them)
                self._invalid.add(problem)
                log.warning("trigger left out: %s", problem)
        for key in self._entries.keys() - found.keys():
            del self._entries[key]
        for key, trigger in found.items():
            entry = self._entries.get(key)
            if entry is not None and entry.trigger == trigger:
                continue
            schedule = trigger.schedule
            assert schedule is not None
            try:
                next_tick = schedule.next_after(now)
            except (StopIteration, ValueError) as error:
                self._warn(key, f"schedule {schedule.expression!r} has no next tick: {error}")
                continue
            self._entries[key] = _Entry(key[0], trigger, next_tick)

    def _parse(self, function: Function) -> tuple[list[Trigger], list[TriggerProblem]]:
        """`parse_triggers` of `function`'s labels, parsed again only when they change."""
        cached = self._parsed.get(function.name)
        if cached is not None and cached[0] == function.labels:
            return cached[1], cached[2]
        triggers, invalid = parse_triggers(function.labels)
        self._parsed[function.name] = (dict(function.labels), triggers, invalid)
        return triggers, invalid

    def _missed(self, now: float) -> list[tuple[Key, float]]:
        """The ticks of the last `grace` seconds, or for `catch_up` the last tick."""
        missed: list[tuple[Key, float]] = []
        for key, entry in self._entries.items():
            schedule = entry.trigger.schedule
            assert schedule is not None
            ticks = _ticks_between(entry, now - self._grace, now)
            if not ticks and entry.trigger.catch_up:
                with contextlib.suppress(StopIteration):
                    ticks = [schedule.last_at_or_before(now)]
            missed.extend((key, tick) for tick in ticks)
        self._skip_until(now)
        return missed

    def _skip_until(self, now: float) -> None:
        """Move every schedule's next tick past `now` (without firing)."""
        for entry in self._entries.values():
            if entry.next_tick <= now:
                schedule = entry.trigger.schedule
                assert schedule is not None
                entry.next_tick, entry.following = schedule.next_after(now), None

    def _due(self, now: float) -> list[tuple[Key, float]]:
        due: list[tuple[Key, float]] = []
        for key, entry in self._entries.items():
            if entry.next_tick > now:
                continue
            following = entry.following
            if following is not None and now < following:  # one tick: the usual pass
                due.append((key, entry.next_tick))
                entry.next_tick, entry.following = following, None
                continue
            # After a stall, ticks older than the grace are skipped, as when down; the
            # latest one always fires.
            start = max(entry.next_tick, now - self._grace - 1.0) - 1e-3
            ticks = _ticks_between(entry, start, now)
            recent = [tick for tick in ticks if tick >= now - self._grace] or ticks[-1:]
            due.extend((key, tick) for tick in recent)
            schedule = entry.trigger.schedule
            assert schedule is not None
            entry.next_tick, entry.following = schedule.next_after(now), None
        return due

    async def _fire_all(self, ticks: list[tuple[Key, float]]) -> None:
        if not ticks:
            return
        if self._fire_many is None:
            await asyncio.gather(*(self._fire_tick(key, tick) for key, tick in ticks))
            return
        firings = [
            (key, tick, tick_firing(key[0], entry.trigger, tick))
            for key, tick in ticks
            if (entry := self._entries.get(key)) is not None
        ]
        outcomes = await self._fire_many([firing for _, _, firing in firings])
        for (key, tick, _), outcome in zip(firings, outcomes, strict=True):
            self._count(key, tick, outcome if isinstance(outcome, GatewayError) else None)

    async def _fire_tick(self, key: Key, tick: float) -> None:
        entry = self._entries.get(key)
        if entry is None:  # removed since
            return
        async with self._limit:
            try:
                await self._fire(tick_firing(key[0], entry.trigger, tick))
            except GatewayError as error:
                self._count(key, tick, error)
                return
        self._count(key, tick, None)

    def _count(self, key: Key, tick: float, error: GatewayError | None) -> None:
        """A firing's outcome: in the metrics, and a refused one to be tried again."""
        function, name = key
        if error is not None:
            self._metrics.failed.labels(function, name).inc()
            if tick > self._clock() - self._grace:
                self._retry.append((key, tick))
                self._warn(key, f"tick {int(tick)} not queued, trying again: {error}")
            else:
                log.error("trigger %s of %s: tick %d lost: %s", name, function, tick, error)
            return
        self._warned.discard((function, name))
        self._metrics.fired.labels(function, name).inc()
        self._metrics.lag.labels(function, name).observe(max(0.0, self._clock() - tick))

    def _warn(self, key: Key, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("trigger %s of %s: %s", key[1], key[0], message)


def _ticks_between(entry: _Entry, after: float, until: float) -> list[float]:
    """The ticks of `entry`'s schedule in (`after`, `until`], at most `MAX_TICKS_PER_PASS`."""
    schedule = entry.trigger.schedule
    assert schedule is not None
    ticks: list[float] = []
    tick = schedule.next_after(after)
    while tick <= until and len(ticks) < MAX_TICKS_PER_PASS:
        ticks.append(tick)
        tick = schedule.next_after(tick)
    return ticks
