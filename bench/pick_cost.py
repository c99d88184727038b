"""What the shared unreachable addresses cost `ReplicaResolver.pick`, the per-call choice.

    python -m bench.pick_cost            # 7 interleaved rounds of 200,000 picks per case

Cases, each on a cached answer of three addresses: no shared table (one worker's own
marks, as before workers shared them); a shared table with nothing marked (the usual
path: one clock reading per pick, one `stat` every 0.1 s); a shared table with another
address marked by another worker (the filtering path, only while a mark is in force),
and the same path before workers shared marks (an address marked by this worker).
Rounds are interleaved so that a noisy machine slows every case alike; the minimum and
the median per pick are printed. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gateway.proxy.replicas import ReplicaResolver
from gateway.shared import SharedTable

ADDRESSES = ("10.0.0.1", "10.0.0.2", "10.0.0.3")


async def _resolve(host: str, port: int) -> tuple[str, ...]:
    return ADDRESSES


async def _per_pick(resolver: ReplicaResolver, picks: int) -> float:
    await resolver.pick("tasks.fn", 8080)  # resolved and cached
    started = time.perf_counter()
    for _ in range(picks):
        await resolver.pick("tasks.fn", 8080)
    return (time.perf_counter() - started) / picks


def measure(folder: Path, rounds: int, picks: int) -> dict[str, list[float]]:
    """Seconds per pick, per case and round."""
    marked = SharedTable(folder / "marked")
    marked.put("10.0.0.9", "", 3600.0)  # another worker's mark, outside this rotation
    marked_here = ReplicaResolver(3600.0, resolve=_resolve)
    marked_here.mark_unreachable("10.0.0.9", 3600.0)
    cases = {
        "no shared table": ReplicaResolver(3600.0, resolve=_resolve),
        "no shared table, one address marked": marked_here,
        "shared table, nothing marked": ReplicaResolver(
            3600.0, resolve=_resolve, shared=SharedTable(folder / "empty")
        ),
        "shared table, one address marked": ReplicaResolver(
            3600.0, resolve=_resolve, shared=SharedTable(folder / "marked")
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}

    async def run() -> None:
        for _ in range(rounds):
            for name, resolver in cases.items():
                results[name].append(await _per_pick(resolver, picks))

    asyncio.run(run())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--picks", type=int, default=200_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pick-cost-") as folder:
        results = measure(Path(folder), options.rounds, options.picks)
    for name, seconds in results.items():
        print(
            f"{name:37} min {min(seconds) * 1e9:6.0f} ns"
            f"   median {statistics.median(seconds) * 1e9:6.0f} ns per pick"
        )


if __name__ == "__main__":
    main()
