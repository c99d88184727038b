"""`python -m gateway` with GATEWAY_WORKERS=2: one port, two worker processes, one view.

Real processes (the supervisor, its workers, a `cat` watchdog); counts are exact, times
are printed, never asserted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.harness import BackgroundProcess
from tests.support import free_port, wait_for

CONCURRENCY = 16


@dataclass
class Supervised:
    """The supervisor process and where its workers share files."""

    process: BackgroundProcess
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    def workers(self) -> set[int]:
        """The pids of the supervisor's worker processes (its children but the resource
        tracker multiprocessing may start)."""
        pid = self.process.process.pid
        children: set[int] = set()
        for task in Path(f"/proc/{pid}/task").iterdir():
            children.update(int(child) for child in (task / "children").read_text().split())
        return {child for child in children if b"multiprocessing.spawn" in _cmdline(child)
                and b"resource_tracker" not in _cmdline(child)}  # fmt: skip

    def shared_dir(self) -> Path:
        (folder,) = self.tmp.glob("faas-gateway-*")
        return folder

    def lock_holders(self) -> set[int]:
        """The pids holding the autoscaler's flock (from /proc/locks)."""
        inode = (self.shared_dir() / "autoscaler.lock").stat().st_ino
        holders = set()
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and fields[-3].rsplit(":", 1)[-1] == str(inode):
                holders.add(int(fields[-4]))
        return holders


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def supervised(cat_watchdog: BackgroundProcess, tmp_path: Path) -> Iterator[Supervised]:
    """`python -m gateway` with two workers over `cat`, its shared folder under tmp_path."""
    port = free_port()
    env = {
        "GATEWAY_WORKERS": "2",
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": f"cat=127.0.0.1:{cat_watchdog.port}",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_AUTOSCALE_INTERVAL": "0.2",
        "GATEWAY_LOG_LEVEL": "warning",
        "TMPDIR": str(tmp_path),
    }
    with BackgroundProcess([sys.executable, "-m", "gateway"], port, env) as process:
        gateway = Supervised(process, tmp_path)
        wait_for(lambda: len(gateway.workers()) == 2, "two workers")
        wait_for(lambda: _ready(gateway.url), "both workers to answer", timeout=30)
        yield gateway
        process.process.terminate()
        assert process.process.wait(timeout=30) == 0
    assert not list(tmp_path.glob("faas-gateway-*")), "the shared folder was left behind"


def _ready(url: str) -> bool:
    # Fresh connections: each may land on either worker.
    return all(httpx.get(f"{url}/healthz", timeout=5).status_code == 200 for _ in range(8))


def invocations(url: str) -> float:
    """Sum of gateway_function_invocation_total over every series, from one scrape."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_function_invocation_total"
    )


def test_metrics_sum_the_calls_of_every_worker(supervised: Supervised) -> None:
    calls = 120

    def call(i: int) -> None:
        # A new connection per call, so the kernel hands calls to both workers.
        reply = httpx.post(f"{supervised.url}/function/cat", content=f"call {i}", timeout=30)
        assert (reply.status_code, reply.text) == (200, f"call {i}")

    def caller(k: int) -> None:
        for j in range(calls // 8):
            call(k * 1000 + j)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = {
        int(path.stem.rsplit("_", 1)[1]) for path in supervised.shared_dir().glob("counter_*.db")
    }
    assert served == supervised.workers(), "both workers served calls"
    # Every scrape, whichever worker answers it, counts every call exactly once.
    assert [invocations(supervised.url) for _ in range(10)] == [calls] * 10


def test_a_killed_worker_is_replaced_and_other_calls_succeed(
    supervised: Supervised, capsys: pytest.CaptureFixture[str]
) -> None:
    total = 1600
    done = threading.Semaphore(0)
    counter = iter(range(total))
    lock = threading.Lock()
    failures: list[str] = []
    succeeded = [0]

    def loop() -> None:
        with httpx.Client(base_url=supervised.url, timeout=30) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                try:
                    reply = client.post("/function/cat", content=f"call {i}")
                    ok = (reply.status_code, reply.text) == (200, f"call {i}")
                    detail = f"{reply.status_code} {reply.text[:60]!r}"
                except httpx.HTTPError as error:
                    ok, detail = False, f"{type(error).__name__}: {error}"
                with lock:
                    if ok:
                        succeeded[0] += 1
                    else:
                        failures.append(detail)
                done.release()

    before = supervised.workers()
    victim = min(before)
    threads = [threading.Thread(target=loop) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for _ in range(total // 4):
        done.acquire()
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    wait_for(
        lambda: len(workers := supervised.workers()) == 2 and victim not in workers,
        "the supervisor to start a new worker",
        timeout=60,
    )
    with capsys.disabled():
        print(
            f"\n[workers] killed worker {victim} under {CONCURRENCY} callers: "
            f"{succeeded[0]} of {total} calls succeeded, {len(failures)} failed "
            f"{failures[:3]}; new workers {supervised.workers() - before}"
        )
    # At most the calls in flight on the killed worker fail: one per caller at most.
    assert len(failures) <= CONCURRENCY
    assert succeeded[0] + len(failures) == total
    # The new worker serves, and the metrics still add up to every call that was answered,
    # but for those the killed worker answered in its last event-loop pass: their updates
    # were still in its batch (gateway.metrics.batch), at most one call per caller.
    wait_for(lambda: _ready(supervised.url), "both workers to answer", timeout=30)
    assert invocations(supervised.url) >= succeeded[0] - CONCURRENCY


def test_exactly_one_worker_runs_the_autoscaler(supervised: Supervised) -> None:
    wait_for(lambda: len(supervised.lock_holders()) == 1, "a worker to take the lock")
    (leader,) = supervised.lock_holders()
    assert leader in supervised.workers()
    os.kill(leader, signal.SIGKILL)
    wait_for(
        lambda: (holders := supervised.lock_holders()) and leader not in holders,
        "another worker to take the lock",
    )
    (successor,) = supervised.lock_holders()
    assert successor in supervised.workers()
    assert successor != leader


def test_every_worker_bounds_request_heads(supervised: Supervised) -> None:
    # Fresh connections land on both workers; each must refuse an oversized head.
    for _ in range(8):
        with socket.create_connection(("127.0.0.1", supervised.process.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_configuration_error_exits_2_before_any_worker_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env={**os.environ, "GATEWAY_WORKERS": "many"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"GATEWAY_WORKERS" in result.stderr
