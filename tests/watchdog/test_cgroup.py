"""`GET /_/cpu`: the container's CPU time from its cgroup, for the gateway's `cpu` scaling."""

from __future__ import annotations

from pathlib import Path

from fwatchdog.cgroup import cpu_usage_usec

from .conftest import Watchdog, raw_request


def test_reads_cgroup_v2_usage(tmp_path: Path) -> None:
    stat = tmp_path / "cpu.stat"
    stat.write_text("usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n")
    assert cpu_usage_usec(stat, ()) == 1234567


def test_falls_back_to_cgroup_v1_nanoseconds(tmp_path: Path) -> None:
    usage = tmp_path / "cpuacct.usage"
    usage.write_text("987654321\n")
    assert cpu_usage_usec(tmp_path / "missing", (tmp_path / "none", usage)) == 987654
    usage.write_text("²\n")
    assert cpu_usage_usec(tmp_path / "missing", (usage,)) is None


def test_answers_usage_and_time_or_404(cat_watchdog: Watchdog) -> None:
    response = raw_request(cat_watchdog.port, b"GET /_/cpu HTTP/1.1\r\nHost: t\r\n\r\n")
    if cpu_usage_usec() is None:  # no cgroup figures where the tests run
        assert response.status == 404
        return
    assert response.status == 200
    usage, now = response.body.split()
    assert int(usage) >= 0
    assert int(now) > 0


def test_reads_plain_string_paths(tmp_path: Path) -> None:
    stat = tmp_path / "cpu.stat"
    stat.write_text("usage_usec 42\n")
    assert cpu_usage_usec(str(stat), ()) == 42
    assert cpu_usage_usec(str(tmp_path / "missing"), (str(tmp_path / "none"),)) is None
