"""`python -m bench.topics`: a topic with 10 subscribing functions (issue 32's target).

    python -m bench.topics                       # 200 messages, 10 functions, 3 rounds
    python -m bench.topics --messages 500 --functions 10 --rounds 5

Starts a nats-server (JetStream, a temporary store, a free port) and, in this process,
the NATS connector and its router over that many static functions whose `topic` names
one JetStream subject (at least once: a durable consumer, acked once every function's
call is stored). Each round, alternating:

- **fan-out**: `--messages` messages published to the subject (64 in flight), timed from
  the first publish to the last of messages x functions calls stored in the calls
  stream: messages per second, and the calls per second that makes;
- **reference**: the same number of calls stored by the async path's own enqueue
  (`queue_firing`, the connector's, 64 at once), with no broker message around them:
  calls per second.

Nothing consumes the calls (the stream is purged between cases). Prints the medians over
the rounds and the ratio. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.js.api import StreamConfig

from gateway.async_calls.broker import Broker
from gateway.async_calls.call_queue import CALLS_STREAM
from gateway.config import AsyncConfig
from gateway.providers.base import Function
from gateway.triggers.annotations import parse_triggers
from gateway.triggers.connectors import MAX_INFLIGHT_MESSAGES, TopicRouter
from gateway.triggers.firing import Firing, queue_firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.nats_source import NatsConnector
from tests.support import free_port

SUBJECT = "bench.orders"
STREAM = "BENCH_ORDERS"
IN_FLIGHT = MAX_INFLIGHT_MESSAGES
STALL_SECONDS = 30.0
"""A case that stores nothing new for this long is given up."""


def subscribers(count: int) -> list[Function]:
    """`count` functions whose `topic` annotation names the bench's subject."""
    return [
        Function(f"f{n}", "bench/f", 1, "127.0.0.1:9",
                 labels={"com.faas.annotation.topic": SUBJECT})
        for n in range(count)
    ]  # fmt: skip


async def bounded(jobs: list[Callable[[], Awaitable[object]]], at_once: int) -> None:
    """Run `jobs`, `at_once` of them in flight."""
    limit = asyncio.Semaphore(at_once)

    async def one(job: Callable[[], Awaitable[object]]) -> None:
        async with limit:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


async def stored(broker: Broker) -> int:
    """Calls in the calls stream now."""
    return int((await broker.jetstream().stream_info(CALLS_STREAM)).state.messages)


async def until_stored(broker: Broker, wanted: int) -> None:
    """Wait until the calls stream holds `wanted` calls (RuntimeError on a stall)."""
    seen, since = -1, time.monotonic()
    while (count := await stored(broker)) < wanted:
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise RuntimeError(f"stalled at {count} of {wanted} calls stored")
        await asyncio.sleep(0.01)


async def fan_out(broker: Broker, messages: int, functions: int, round_: int) -> float:
    """Seconds from the first publish to every call stored."""
    js = broker.jetstream()
    started = time.monotonic()
    await bounded([lambda n=n: js.publish(SUBJECT, b"order %d-%d" % (round_, n))  # type: ignore[misc]
                   for n in range(messages)], IN_FLIGHT)  # fmt: skip
    await until_stored(broker, messages * functions)
    return time.monotonic() - started


async def reference(broker: Broker, config: AsyncConfig, calls: int, round_: int) -> float:
    """Seconds to store `calls` calls through the connector's own enqueue."""
    [trigger], _ = parse_triggers({"com.faas.annotation.topic": SUBJECT})
    firings = [Firing(f"f{n % 10}", trigger, f"bench-ref/{round_}/{n}", b"order")
               for n in range(calls)]  # fmt: skip
    started = time.monotonic()
    await bounded([lambda f=f: queue_firing(broker, config, f)  # type: ignore[misc]
                   for f in firings], IN_FLIGHT)  # fmt: skip
    await until_stored(broker, calls)
    return time.monotonic() - started


async def run(port: int, messages: int, functions: int, rounds: int) -> int:
    """The rounds (see the module docstring); prints the medians."""
    config = AsyncConfig(nats_url=f"nats://127.0.0.1:{port}", function_max_calls=1_000_000)
    broker = Broker(config, name="bench-topics")
    await broker.start()
    if not await broker.wait_ready(10):
        print(f"no broker: {broker.problem}", file=sys.stderr)
        return 1
    js = broker.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    listed = subscribers(functions)

    async def fire(firing: Firing) -> object:
        return await queue_firing(broker, config, firing)

    stop = asyncio.Event()
    router = TopicRouter(lambda: listed, fire, TriggerMetrics())
    routing = asyncio.create_task(router.run(NatsConnector(broker), stop))
    fan: list[float] = []
    ref: list[float] = []
    try:
        await js.publish(SUBJECT, b"probe")  # until the router follows the subject
        await until_stored(broker, functions)
        for round_ in range(rounds):
            await js.purge_stream(CALLS_STREAM)
            fan.append(messages / await fan_out(broker, messages, functions, round_))
            await js.purge_stream(CALLS_STREAM)
            calls = messages * functions
            ref.append(calls / await reference(broker, config, calls, round_))
            print(f"  round {round_ + 1}: fan-out {fan[-1]:,.0f} messages/s "
                  f"({fan[-1] * functions:,.0f} calls/s); enqueue {ref[-1]:,.0f} calls/s",
                  file=sys.stderr, flush=True)  # fmt: skip
    finally:
        stop.set()
        await routing
        await js.purge_stream(CALLS_STREAM)
        await broker.close()
    messages_s, reference_s = statistics.median(fan), statistics.median(ref)
    print(f"topic with {functions} subscribing functions, {messages} messages per round, "
          f"median of {rounds}:")  # fmt: skip
    print(f"  publish → {functions} calls stored: {messages_s:,.0f} messages/s "
          f"= {messages_s * functions:,.0f} calls/s")  # fmt: skip
    print(f"  the async path's own enqueue, {IN_FLIGHT} at once: {reference_s:,.0f} calls/s")
    print(f"  fan-out calls/s vs enqueue: {messages_s * functions / reference_s:.0%}")
    return 0


def main() -> int:
    """Parse the options, start nats-server, run, print."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.topics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = shutil.which("nats-server")
    if binary is None:
        print("nats-server is not installed (scripts/nats.sh installs it)", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen(
            [binary, "-js", "-sd", str(Path(store)), "-a", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return asyncio.run(run(port, args.messages, args.functions, args.rounds))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
