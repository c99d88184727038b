"""bench.proxy_hop: the C header path's checks against our one worker."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.proxy_hop import NATIVE, NATIVE_SERVER, gateway_label, gateway_server, native_checks
from bench.report import Report, Run
from bench.scenarios import Bench, Settings, key


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(Settings(1.0, 2, 0.0, True), "wrk", tmp_path, Report("t", "now", {}))


def run(
    label: str, c: int, rps: list[float], p50_ms: list[float], cpu: list[dict[str, float]]
) -> Run:
    return Run(
        "6",
        label,
        c,
        rps=statistics.median(rps),
        p50_ms=statistics.median(p50_ms),
        p99_ms=1.0,
        samples_rps=rps,
        samples_p50_ms=p50_ms,
        samples_cpu_pct=cpu,
    )


def test_the_c_header_path_is_compared_round_by_round(bench: Bench) -> None:
    ours = gateway_label(1)
    # C: 100 µs then 50 µs per call; Python: 100 µs each round
    runs = {
        key(ours, 64): run(
            ours, 64, [1000, 2000], [3.0, 3.0],
            [{gateway_server(1): 10.0}, {gateway_server(1): 20.0}],
        ),
        key(NATIVE, 64): run(
            NATIVE, 64, [1500, 2000], [2.0, 2.0],
            [{NATIVE_SERVER: 15.0}, {NATIVE_SERVER: 10.0}],
        ),
        key(ours, 1): run(ours, 1, [400, 400], [0.3, 0.4], []),
        key(NATIVE, 1): run(NATIVE, 1, [500, 500], [0.2, 0.3], []),
    }  # fmt: skip
    native_checks(bench, "6", runs, "1.0")
    by_what = {check.what: check for check in bench.report.checks}
    rate = by_what[f"{NATIVE}, c=64: rate vs Python (1 worker)"]
    assert rate.measured.endswith("= 1.25x")  # the median of 1.5x and 1.0x
    cpu = by_what[f"{NATIVE}, c=64: CPU per call vs Python (1 worker)"]
    assert cpu.measured == "75 µs = 0.75x"
    assert cpu.reference.startswith("Python 100 µs")
    p50 = by_what[f"{NATIVE}, c=1: p50 vs Python (1 worker)"]
    assert p50.measured.startswith("250 µs (-100 µs paired)")
    assert {check.verdict for check in bench.report.checks} == {"info"}


def test_without_the_c_header_path_its_checks_are_not_run(bench: Bench) -> None:
    native_checks(bench, "6", {}, "1.0")
    assert [check.verdict for check in bench.report.checks] == ["not run"] * 3
