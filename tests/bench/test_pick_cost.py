"""The pick micro-benchmark runs every case and measures each round (no figure asserted)."""

from __future__ import annotations

from pathlib import Path

from bench.pick_cost import measure


def test_every_case_is_measured_in_every_round(tmp_path: Path) -> None:
    results = measure(tmp_path, rounds=2, picks=10)
    assert len(results) == 4
    assert all(len(seconds) == 2 and min(seconds) > 0 for seconds in results.values())
