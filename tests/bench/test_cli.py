"""`python -m bench`'s swarm options and what a run reports when the swarm is missing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import bench.__main__ as cli
from bench.report import Report
from bench.scenarios import Bench, Settings
from bench.wrk import run_wrk


def _bench(tmp_path: Path) -> Bench:
    report = Report(mode="test", started="now", machine={})
    return Bench(Settings(1.0, 1, 0.0, True), "wrk", tmp_path, report)


def test_swarm_is_automatic_by_default() -> None:
    assert cli.parse_args([]).swarm == "auto"
    assert cli.parse_args(["--swarm"]).swarm == "required"
    assert cli.parse_args(["--no-swarm"]).swarm == "off"


def test_swarm_and_no_swarm_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--swarm", "--no-swarm"])


def test_required_swarm_that_cannot_run_is_not_run_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "swarm_unavailable_reason", lambda: "no Docker Engine answers")
    b = _bench(tmp_path)
    assert cli.run_swarm(b, ["3", "5"], required=True) is False
    assert [(c.scenario, c.verdict) for c in b.report.checks] == [
        ("3 swarm", "not run"),
        ("5 swarm", "not run"),
    ]
    assert any("no Docker Engine answers" in p for p in b.report.problems)
    assert b.report.swarm_elapsed_s is None


def test_automatic_swarm_that_cannot_run_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "swarm_unavailable_reason", lambda: "not root")
    b = _bench(tmp_path)
    assert cli.run_swarm(b, ["4"], required=False) is True
    assert b.report.checks == []
    assert any("skipped: not root" in p for p in b.report.problems)


def test_report_names_docker_and_the_swarm_time() -> None:
    report = Report(mode="quick", started="now", machine={"docker": "Docker Engine 20.10"})
    report.swarm_elapsed_s = 42.0
    first = report.markdown().splitlines()[0]
    assert "swarm part 42 s" in first
    assert "Docker Engine 20.10" in first
    assert "swarm part" not in Report(mode="q", started="now", machine={}).markdown()


def test_run_wrk_runs_through_the_prefix(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    prefix = tmp_path / "prefix"
    prefix.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}\nexec "$@"\n')
    fake_wrk = tmp_path / "wrk"
    fake_wrk.write_text(
        "#!/bin/sh\n"
        'echo \'BENCHJSON {"requests":10,"duration_us":1000000,"bytes":1,"p50_us":1000,'
        '"p90_us":2000,"p99_us":3000,"mean_us":1000.0,"max_us":4000,"connect":0,"read":0,'
        '"write":0,"status":1,"timeout":0}\'\n'
    )
    for path in (prefix, fake_wrk):
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    result = run_wrk(
        str(fake_wrk), "http://10.0.2.7:8080/", concurrency=1, duration_s=1, prefix=[str(prefix)]
    )
    assert result.requests == 10
    assert result.p50_ms == 1.0
    assert result.errors == 1
    argv = seen.read_text().splitlines()
    assert argv[0] == str(fake_wrk)
    assert argv[-1] == "http://10.0.2.7:8080/"
