"""Scenarios 5-7's pieces that need no server: env, /proc parsing, checks, "not run"."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.__main__ as cli
from bench import proxy_hop
from bench.kill import no_workers_reason
from bench.processes import (
    TCP_ESTABLISHED,
    TCP_LISTEN,
    NotAvailable,
    Server,
    gateway_env,
    tcp_socket_inodes,
)
from bench.report import Report, Run
from bench.scenarios import Bench, Settings, metrics_label, route_label

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 333 1
   3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1
"""


def _bench(tmp_path: Path) -> Bench:
    return Bench(Settings(1.0, 2, 0.0, True), "wrk", tmp_path, Report("t", "now", {}))


def test_tcp_socket_inodes_by_local_port_and_state() -> None:
    assert tcp_socket_inodes(PROC_NET_TCP, 8080, TCP_LISTEN) == {111}
    # The server's side of a connection to 8080, not the client's (local port 50000).
    assert tcp_socket_inodes(PROC_NET_TCP, 8080, TCP_ESTABLISHED) == {222}
    assert tcp_socket_inodes(PROC_NET_TCP, 8081, TCP_LISTEN) == {444}
    assert tcp_socket_inodes("header only\n", 8080, TCP_LISTEN) == set()


def test_gateway_env_passes_the_workers_when_asked() -> None:
    env = gateway_env(9000, {"echo": "127.0.0.1:9001", "cat": "127.0.0.1:9002"}, workers=2)
    assert env["GATEWAY_WORKERS"] == "2"
    assert env["GATEWAY_PORT"] == "9000"
    assert env["GATEWAY_STATIC_FUNCTIONS"] == "echo=127.0.0.1:9001,cat=127.0.0.1:9002"
    assert "GATEWAY_WORKERS" not in gateway_env(9000, {})


def test_one_worker_labels_stay_as_before() -> None:
    assert route_label(200, 1) == "route, 200 functions (round-robin)"
    assert metrics_label(3, 1) == "GET /metrics, 3 functions"
    assert metrics_label(200, 2) == "GET /metrics, 200 functions, 2 workers"


def test_new_scenarios_are_selectable() -> None:
    assert {"6", "7", "8", "9"} <= set(cli.SCENARIOS)
    assert {"7", "8", "9"} <= set(cli.SWARM_SCENARIOS)
    assert cli.KNOWN == "1-9"


def test_no_workers_reason_names_the_variable(tmp_path: Path) -> None:
    server = Server("gateway", ["true"], {}, 1, "/healthz", tmp_path / "log")

    class Proc:
        pid = 4242

    server.proc = Proc()  # type: ignore[assignment]
    reason = no_workers_reason(server, 2)
    assert "GATEWAY_WORKERS=2" in reason
    assert "4242" in reason


def _run(label: str, c: int, rps: list[float], p50: list[float]) -> Run:
    return Run(
        "6",
        label,
        c,
        rps=sorted(rps)[len(rps) // 2],
        p50_ms=sorted(p50)[len(p50) // 2],
        p99_ms=1.0,
        samples_rps=rps,
        samples_p50_ms=p50,
    )


def _hop_runs(with_go: bool) -> dict[str, Run]:
    ours1, ours2 = proxy_hop.gateway_label(1), proxy_hop.gateway_label(2)
    runs = {
        f"{proxy_hop.DIRECT}@1": _run(proxy_hop.DIRECT, 1, [20000, 20000], [0.05, 0.05]),
        f"{ours1}@1": _run(ours1, 1, [2500, 2500], [0.40, 0.40]),
        f"{ours1}@64": _run(ours1, 64, [5000, 5000], [10, 10]),
        f"{ours2}@1": _run(ours2, 1, [3000, 3000], [0.25, 0.29]),
        f"{ours2}@64": _run(ours2, 64, [12000, 9000], [5, 5]),
    }
    if with_go:
        runs[f"{proxy_hop.GO_PROXY}@1"] = _run(proxy_hop.GO_PROXY, 1, [3000, 3000], [0.3, 0.3])
        runs[f"{proxy_hop.GO_PROXY}@64"] = _run(proxy_hop.GO_PROXY, 64, [10000, 10000], [6, 6])
    return runs


def test_hop_checks_against_the_go_proxy(tmp_path: Path) -> None:
    b = _bench(tmp_path)
    ours = [proxy_hop.gateway_label(1), proxy_hop.gateway_label(2)]
    proxy_hop.hop_reference_checks(b, "6", _hop_runs(True), ours, with_go=True)
    verdicts = {c.what: (c.measured, c.verdict) for c in b.report.checks}
    assert verdicts[f"{ours[0]}, c=64: rate vs the Go reverse proxy"] == (
        "5,000 req/s = 0.50x",
        "MISS",
    )
    # Paired by round: 120% and 90%, median 105%.
    assert verdicts[f"{ours[1]}, c=64: rate vs the Go reverse proxy"][1] == "PASS"
    assert "1.05x" in verdicts[f"{ours[1]}, c=64: rate vs the Go reverse proxy"][0]
    assert verdicts[f"{ours[1]}, c=1: added p50 over direct"][1] == "PASS"
    assert verdicts[f"{ours[0]}, c=1: added p50 over direct"][1] == "MISS"
    assert "Go reverse proxy c=1: added p50 over direct" in verdicts


def test_hop_checks_without_go_are_not_run(tmp_path: Path) -> None:
    b = _bench(tmp_path)
    ours = [proxy_hop.gateway_label(1), proxy_hop.gateway_label(2)]
    proxy_hop.hop_reference_checks(b, "6", _hop_runs(False), ours, with_go=False)
    rate_rows = [c for c in b.report.checks if "rate vs the Go" in c.what]
    assert [c.verdict for c in rate_rows] == ["not run", "not run"]
    assert any(c.verdict == "PASS" for c in b.report.checks)  # added p50 still judged


def test_go_proxy_binary_gives_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_go() -> Path:
        raise NotAvailable("no Go toolchain: test")

    monkeypatch.setattr(proxy_hop, "build_go_proxy", no_go)
    assert proxy_hop.go_proxy_binary() == (None, "no Go toolchain: test")
