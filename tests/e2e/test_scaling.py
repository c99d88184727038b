"""Autoscaling on the real swarm: load raises replicas and they come back down; a function
labelled for it goes to 0 when idle and wakes for 20 concurrent calls; OpenFaaS's labels
through the management API: `min=2` reads back 2 replicas at once, `min == max` stays
put under load.

Timings (scale-up, scale-down, cold start) are printed, never asserted.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import GATEWAY_URL, ServiceFactory, docker, running_task_ids, wait_for

IMAGE = "localhost/faas/catservice:latest"
LOAD_THREADS = 12
LOAD_SECONDS_MAX = 120.0


def desired_replicas(service: str) -> int:
    template = "{{.Spec.Mode.Replicated.Replicas}}"
    return int(docker("service", "inspect", "-f", template, service).strip())


def running_tasks(service: str) -> int:
    return len(running_task_ids(service))


def metric(name: str, function: str) -> float | None:
    """One sample of the gateway's /metrics for `function`, if present."""
    text = httpx.get(f"{GATEWAY_URL}/metrics", timeout=30).text
    labels = rf'\{{(?:[^}}]*,)?function_name="{re.escape(function)}"[^}}]*\}}'
    pattern = rf"^{re.escape(name)}{labels} (\S+)$"
    values = [float(match) for match in re.findall(pattern, text, re.MULTILINE)]
    return sum(values) if values else None


def metric_with(name: str, function: str, **labels: str) -> float:
    """One sample of /metrics for `function` with `labels` too (0 when absent)."""
    text = httpx.get(f"{GATEWAY_URL}/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") or f'function_name="{function}"' not in line:
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    with capsys.disabled():
        print()
        for line in lines:
            print(f"[scaling] {line}")


def test_load_scales_a_slow_function_up_and_back_down(
    client: httpx.Client, make_service: ServiceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    name = make_service(
        IMAGE, "--endpoint-mode", "dnsrr",
        "--env", "fprocess=sh -c 'sleep 0.5; cat'",
        "--label", "com.faas.scale.min=1", "--label", "com.faas.scale.max=3",
        "--label", "com.faas.scale.target=2", "--label", "com.faas.scale.cooldown=10s",
    )  # fmt: skip
    wait_for(lambda: client.post(f"/function/{name}", content=b"x").status_code == 200,
             f"{name} to answer", timeout=120)  # fmt: skip

    stop = threading.Event()
    failures: list[str] = []
    calls = [0]

    def load() -> None:
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            deadline = time.monotonic() + LOAD_SECONDS_MAX
            while not stop.is_set() and time.monotonic() < deadline:
                reply = http.post(f"/function/{name}", content=b"ping")
                calls[0] += 1
                if reply.status_code != 200 or reply.content != b"ping":
                    failures.append(f"{reply.status_code} {reply.text[:80]!r}")

    started = time.monotonic()
    threads = [threading.Thread(target=load, daemon=True) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: desired_replicas(name) > 1, f"{name} to scale above 1", timeout=90)
        scaled_up_after = time.monotonic() - started
        wait_for(lambda: running_tasks(name) > 1, f"a second task of {name}", timeout=90)
        peak = desired_replicas(name)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert failures == [], f"{len(failures)} failed call(s) under load: {failures[:5]}"

    # After the load, a light trickle of calls (one at a time) while it scales down:
    # none may fail.
    stopped = time.monotonic()
    trickle_failures: list[str] = []

    def back_to_one() -> bool:
        reply = client.post(f"/function/{name}", content=b"trickle")
        if reply.status_code != 200:
            trickle_failures.append(f"{reply.status_code} {reply.text[:80]!r}")
        return desired_replicas(name) == 1

    wait_for(back_to_one, f"{name} to scale back to 1", timeout=120)
    scaled_down_after = time.monotonic() - stopped
    assert trickle_failures == [], f"calls failed during scale-down: {trickle_failures[:5]}"
    # Decided once, by one worker: each event moved the replicas, none was repeated by
    # another gateway worker (with one decider, 1 -> peak takes at most peak - 1 steps).
    ups = metric_with("gateway_scale_events_total", name, direction="up")
    downs = metric_with("gateway_scale_events_total", name, direction="down")
    assert 1 <= ups <= peak - 1, f"{ups} scale-ups to reach {peak} replicas"
    assert 1 <= downs <= peak - 1, f"{downs} scale-downs from {peak} replicas"
    report(
        capsys,
        f"{name}: {LOAD_THREADS} callers, {calls[0]} calls, 0 failed",
        f"replicas 1 -> {peak} after {scaled_up_after:.1f}s of load; "
        f"back to 1 {scaled_down_after:.1f}s after it stopped (cooldown 10s)",
        f"scale events (up and down): {metric('gateway_scale_events_total', name) or 0:.0f}",
    )


def test_idle_function_goes_to_zero_and_wakes_for_concurrent_calls(
    client: httpx.Client, make_service: ServiceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    name = make_service(
        IMAGE, "--endpoint-mode", "dnsrr",
        "--label", "com.faas.scale.zero=true", "--label", "com.faas.scale.zero_after=10s",
    )  # fmt: skip
    wait_for(lambda: client.post(f"/function/{name}", content=b"x").status_code == 200,
             f"{name} to answer", timeout=120)  # fmt: skip
    last_call = time.monotonic()
    wait_for(lambda: desired_replicas(name) == 0, f"{name} to scale to 0", timeout=90)
    idle_for = time.monotonic() - last_call
    wait_for(lambda: running_tasks(name) == 0, f"the last task of {name} to stop", timeout=60)

    def call(i: int) -> httpx.Response:
        with httpx.Client(base_url=GATEWAY_URL, timeout=90) as http:
            return http.post(f"/function/{name}", content=f"call {i}".encode())

    woke_at = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(call, range(20)))
    all_answered = time.monotonic() - woke_at
    assert [(r.status_code, r.text) for r in replies] == [(200, f"call {i}") for i in range(20)]
    assert desired_replicas(name) >= 1

    cold_sum = metric("gateway_cold_start_seconds_sum", name)
    cold_count = metric("gateway_cold_start_seconds_count", name)
    assert cold_count == 1  # one shared wake-up for the 20 calls
    assert cold_sum is not None
    report(
        capsys,
        f"{name}: scaled to 0 after {idle_for:.1f}s idle (zero_after 10s)",
        f"cold start (gateway_cold_start_seconds): {cold_sum:.2f}s; "
        f"20 concurrent calls all answered 200 within {all_answered:.2f}s",
    )


@pytest.fixture
def deployed(api: httpx.Client) -> Iterator[list[str]]:
    """Names of functions a test deploys through the API, removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        api.request("DELETE", "/system/functions", json={"functionName": name})
        docker("service", "rm", name, check=False)


def deploy(api: httpx.Client, deployed: list[str], labels: dict[str, str], **fields: str) -> str:
    name = f"e2e-scale-{uuid.uuid4().hex[:6]}"
    deployed.append(name)
    body = {"service": name, "image": IMAGE, "labels": labels, **fields}
    reply = api.post("/system/functions", json=body)
    assert reply.status_code == 202, reply.text
    return name


def test_openfaas_min_label_is_honoured_at_deploy(
    api: httpx.Client, deployed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = deploy(api, deployed, {"com.openfaas.scale.min": "2"})
    # At once: the answer to the deploy already made the service with 2 replicas.
    described = api.get(f"/system/function/{name}")
    assert described.status_code == 200, described.text
    assert described.json()["replicas"] == 2
    assert desired_replicas(name) == 2
    started = time.monotonic()
    wait_for(lambda: running_tasks(name) == 2, f"2 running tasks of {name}", timeout=120)
    ready_after = time.monotonic() - started
    # And never below it: idle, over several autoscaler passes (2 s each).
    seen = set()
    for _ in range(20):
        seen.add(api.get(f"/system/function/{name}").json()["replicas"])
        time.sleep(0.5)
    assert seen == {2}
    report(capsys, f"{name}: min=2 read back 2 replicas at once; 2 running after "
                   f"{ready_after:.1f}s; idle 10s: replicas {sorted(seen)}")  # fmt: skip


def test_min_equal_to_max_stays_put_under_load(
    api: httpx.Client, deployed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    labels = {
        "com.openfaas.scale.min": "2", "com.openfaas.scale.max": "2",
        # Without min == max, 12 callers at 1 call in flight a replica would need 12.
        "com.openfaas.scale.type": "capacity", "com.openfaas.scale.target": "1",
    }  # fmt: skip
    name = deploy(api, deployed, labels, envProcess="sh -c 'sleep 0.5; cat'")
    assert desired_replicas(name) == 2
    wait_for(lambda: api.post(f"/function/{name}", content=b"x").status_code == 200,
             f"{name} to answer", timeout=120)  # fmt: skip

    stop = threading.Event()
    failures: list[str] = []
    calls = [0]

    def load() -> None:
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            while not stop.is_set():
                reply = http.post(f"/function/{name}", content=b"ping")
                calls[0] += 1
                if reply.status_code != 200 or reply.content != b"ping":
                    failures.append(f"{reply.status_code} {reply.text[:80]!r}")

    threads = [threading.Thread(target=load, daemon=True) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    seen = set()
    try:
        deadline = time.monotonic() + 20.0  # ten autoscaler passes under load
        while time.monotonic() < deadline:
            seen.add(desired_replicas(name))
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert failures == [], f"{len(failures)} failed call(s) under load: {failures[:5]}"
    assert seen == {2}
    assert metric_with("gateway_scale_events_total", name, direction="up") == 0
    report(capsys, f"{name}: min == max == 2 under {LOAD_THREADS} callers ({calls[0]} calls, "
                   f"0 failed): replicas {sorted(seen)} for 20s")  # fmt: skip
