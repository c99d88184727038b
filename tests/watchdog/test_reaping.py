"""Nothing of a call outlives it, and every child is reaped: the watchdog is PID 1 in its
image (here, a child subreaper), so whatever a function leaves behind comes back to it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx

from tests.support import wait_for

from .conftest import StartWatchdog, Watchdog, processes_with


def stat(pid: int) -> tuple[str, int]:
    """A process's state letter and parent pid from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return fields[0], int(fields[1])


def zombies_of(wd: Watchdog) -> list[int]:
    """Children of the watchdog that have exited and were not reaped (<defunct>)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state, parent = stat(int(entry))
            except (OSError, IndexError, ValueError):
                continue
            if state == "Z" and parent == wd.process.pid:
                found.append(int(entry))
    return found


def test_background_children_end_with_a_successful_call(start_watchdog: StartWatchdog) -> None:
    marker = f"30.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sh -c 'sleep {marker} >/dev/null 2>&1 & echo hi'")
    for _ in range(3):
        r = httpx.get(wd.url, timeout=15)
        assert r.status_code == 200
        assert r.text == "hi\n"
    wait_for(lambda: not processes_with(marker), "the background sleepers to be gone")
    wait_for(lambda: not zombies_of(wd), "every child to be reaped")


def test_timed_out_calls_leave_no_zombies(start_watchdog: StartWatchdog) -> None:
    marker = f"31.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sh -c 'sleep {marker} & sleep {marker}'", exec_timeout="500ms")
    for _ in range(3):
        assert httpx.get(wd.url, timeout=15).status_code == 504
    wait_for(lambda: not processes_with(marker), "the timed-out groups to be gone")
    wait_for(lambda: not zombies_of(wd), "every child to be reaped")


def test_orphans_come_back_to_the_watchdog_and_are_reaped(start_watchdog: StartWatchdog) -> None:
    marker = f"32.{uuid.uuid4().int % 10**8:08d}"
    # The call ends only once the daemon has left the group (it says so after setsid);
    # its parent has exited, so it is the watchdog's child (PID 1 or subreaper duty), which
    # kills it as a leftover of the call (test_leftovers.py) and reaps it.
    daemon_script = f"echo ready; exec sleep {marker} >/dev/null 2>&1"
    script = f'(setsid sh -c "{daemon_script}" &) | head -n 1 >/dev/null; echo hi'
    wd = start_watchdog(f"sh -c '{script}'")
    assert httpx.get(wd.url, timeout=15).text == "hi\n"
    wait_for(lambda: not processes_with(marker), "the daemon to be gone")
    wait_for(lambda: not zombies_of(wd), "the daemon to be reaped")
