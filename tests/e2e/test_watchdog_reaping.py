"""The watchdog as PID 1 in a real container: every child reaped, nothing of a call outliving
it (issue 15, item 3). Run by the lead with the swarm suite."""

from __future__ import annotations

import contextlib
import subprocess

import httpx

from .conftest import ServiceFactory, docker, wait_for

SLEEPER = "sh -c 'sleep 30 & echo started'"
QUIET_SLEEPER = "sh -c 'sleep 30 >/dev/null 2>&1 & echo started'"


def container_of(service: str) -> str:
    """The id of the service's running container (one replica, on this node)."""
    ids = docker(
        "ps",
        "--filter",
        f"label=com.docker.swarm.service.name={service}",
        "--filter",
        "status=running",
        "--format",
        "{{.ID}}",
    ).split()
    assert len(ids) == 1, f"expected one running container of {service}: {ids}"
    return ids[0]


def process_table(container: str) -> list[tuple[str, str, str]]:
    """(pid, state, command) of every process in the container, from its own /proc."""
    script = (
        "for d in /proc/[0-9]*; do s=$(cat $d/stat 2>/dev/null) || continue; "
        "echo \"${d#/proc/}|$(echo \"$s\" | sed 's/.*) //' | cut -d' ' -f1)|"
        "$(tr '\\0' ' ' < $d/cmdline)\"; done"
    )
    rows = docker("exec", container, "sh", "-c", script).splitlines()
    return [tuple(row.split("|", 2)) for row in rows if row.count("|") >= 2]  # type: ignore[misc]


def defunct(container: str) -> list[tuple[str, str, str]]:
    return [row for row in process_table(container) if row[1] == "Z"]


def sleepers(container: str) -> list[tuple[str, str, str]]:
    return [row for row in process_table(container) if row[2].startswith("sleep 30")]


def deploy_watchdog(
    client: httpx.Client,
    make_service: ServiceFactory,
    fprocess: str,
    *settings: str,
    answers: int = 200,
) -> tuple[str, str]:
    """A watchdog service with `fprocess` and `settings` (`name=value`); once it answers
    with status `answers`: its name and its container's id."""
    env = [option for setting in settings for option in ("--env", setting)]
    name = make_service(
        "localhost/faas/watchdog:latest",
        "--endpoint-mode",
        "dnsrr",
        "--env",
        f"fprocess={fprocess}",
        *env,
    )
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"x").status_code == answers,
        f"{name} to answer",
    )
    return name, container_of(name)


def test_watchdog_is_pid_1_and_leaves_no_zombies_or_survivors(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name, container = deploy_watchdog(client, make_service, QUIET_SLEEPER, "exec_timeout=2s")
    pid_1 = [row for row in process_table(container) if row[0] == "1"]
    assert pid_1
    assert "fwatchdog.pyz" in pid_1[0][2]
    for _ in range(10):  # successful calls whose background child must not outlive them
        reply = client.post(f"/function/{name}", content=b"x")
        assert reply.status_code == 200
        assert reply.text == "started\n"
    wait_for(lambda: not sleepers(container), "background children of finished calls to end")
    wait_for(lambda: not defunct(container), "every child to be reaped")


def test_timeouts_and_disconnects_leave_no_zombies(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name, container = deploy_watchdog(client, make_service, SLEEPER, "exec_timeout=1s", answers=504)
    for _ in range(5):
        assert client.post(f"/function/{name}", content=b"x").status_code == 504
    for _ in range(3):  # callers that give up before the function ends
        with contextlib.suppress(httpx.TimeoutException):
            client.post(f"/function/{name}", content=b"x", timeout=0.3)
    wait_for(lambda: not sleepers(container), "the calls' process groups to be gone")
    wait_for(lambda: not defunct(container), "every child to be reaped")


SETSID_SLEEPER = "sh -c 'setsid sleep 30 >/dev/null 2>&1 & echo started'"


def test_a_process_that_left_its_call_with_setsid_ends_with_it(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    # Issue #30, item 3: `setsid` leaves the call's process group; the watchdog (PID 1, so
    # the orphan's new parent) kills it once the call is over.
    name, container = deploy_watchdog(client, make_service, SETSID_SLEEPER)
    for _ in range(3):
        reply = client.post(f"/function/{name}", content=b"x")
        assert (reply.status_code, reply.text) == (200, "started\n")
    wait_for(lambda: not sleepers(container), "the setsid sleepers to be killed")
    wait_for(lambda: not defunct(container), "every child to be reaped")
    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert "left behind by calls" in logs.stdout + logs.stderr, logs.stderr[-2000:]
