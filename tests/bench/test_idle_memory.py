"""bench.idle_memory's readings: /proc fields and medians (the measuring itself is a bench)."""

from __future__ import annotations

import os

from bench.idle_memory import Memory, kib, median, read_memory


def test_reads_this_process() -> None:
    memory = read_memory(os.getpid())
    assert 0 < memory.anon <= memory.rss
    assert 0 < memory.pss <= memory.rss
    assert memory.threads >= 1


def test_median_of_each_field() -> None:
    readings = [Memory(10, 5, 8, 1), Memory(30, 1, 9, 8), Memory(20, 3, 2, 2)]
    assert median(readings) == Memory(20, 3, 8, 2)


def test_kib_as_megabytes() -> None:
    assert kib(17408) == "17.0"
