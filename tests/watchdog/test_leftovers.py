"""Processes a call leaves behind, even in a session of their own (`setsid`), are killed
when the call ends; processes of calls still running, and http mode's server with what it
started before the call, are not."""

from __future__ import annotations

import socket
import sys
import uuid

import httpx
from fwatchdog.leftovers import Leftovers, descendants
from fwatchdog.reaper import Reaper

from tests.support import free_port, wait_for

from .conftest import UPSTREAM, StartWatchdog, processes_with, read_response
from .test_reaping import zombies_of


def marker(prefix: int) -> str:
    """A `sleep` duration unique to this test run, to find its processes by."""
    return f"{prefix}.{uuid.uuid4().int % 10**8:08d}"


def test_a_setsid_child_ends_with_a_successful_call(start_watchdog: StartWatchdog) -> None:
    left = marker(300)
    wd = start_watchdog(f"sh -c 'setsid sleep {left} >/dev/null 2>&1 & echo done'")
    for _ in range(3):
        r = httpx.get(wd.url, timeout=15)
        assert r.status_code == 200
        assert r.text == "done\n"
    wait_for(lambda: not processes_with(left), "the setsid sleepers to be gone")
    wait_for(lambda: not zombies_of(wd), "every child to be reaped")


def test_a_setsid_child_ends_with_a_timed_out_call(start_watchdog: StartWatchdog) -> None:
    left = marker(301)
    # The sleeper keeps stdout open, so the call lasts until exec_timeout.
    wd = start_watchdog(f"sh -c 'setsid sleep {left} & echo done'", exec_timeout="500ms")
    assert httpx.get(wd.url, timeout=15).status_code == 504
    wait_for(lambda: not processes_with(left), "the setsid sleeper to be gone")
    wait_for(lambda: not zombies_of(wd), "every child to be reaped")


def test_a_nested_setsid_daemon_and_its_children_end_with_the_call(
    start_watchdog: StartWatchdog,
) -> None:
    left = marker(302)
    daemon = f"sleep {left} & setsid sleep {left} & exec sleep {left}"
    script = f'(setsid sh -c "{daemon}" >/dev/null 2>&1 &); echo done'
    wd = start_watchdog(f"sh -c '{script}'")
    assert httpx.get(wd.url, timeout=15).text == "done\n"
    wait_for(lambda: not processes_with(left), "the daemon and its children to be gone")
    wait_for(lambda: not zombies_of(wd), "every child to be reaped")


def test_a_call_still_running_keeps_its_processes(start_watchdog: StartWatchdog) -> None:
    left, kept = marker(303), marker(304)
    script = (
        f'if [ "$Http_Path" = /leave ]; then setsid sleep {left} >/dev/null 2>&1 & echo left; '
        f'elif [ "$Http_Path" = /run ]; then (setsid sleep {kept} >/dev/null 2>&1 &); '
        "sleep 3; echo ran; else echo quick; fi"
    )
    wd = start_watchdog(f"sh -c '{script}'")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=15) as running:
        running.sendall(b"GET /run HTTP/1.1\r\nHost: t\r\n\r\n")
        # The running call's daemon is an orphan (re-parented to the watchdog) already.
        wait_for(lambda: processes_with(kept), "the running call's daemon to start")
        with httpx.Client(timeout=15) as other:
            assert other.get(wd.url + "/leave").text == "left\n"
            # The next call on that connection starts once the first one has ended.
            assert other.get(wd.url + "/quick").text == "quick\n"
        assert processes_with(kept), "a call still running lost its process"
        response = read_response(running.makefile("rb"))
        assert (response.status, response.body) == (200, b"ran\n")
    wait_for(lambda: not processes_with(left), "the ended call's sleeper to be gone")
    wait_for(lambda: not processes_with(kept), "the second call's daemon to be gone")


def test_http_mode_kills_what_a_call_left_and_keeps_the_server(
    start_watchdog: StartWatchdog,
) -> None:
    keep, left = marker(305), marker(306)
    port = free_port()
    wd = start_watchdog(
        f"{sys.executable} {UPSTREAM} {port}",
        mode="http",
        upstream_url=f"http://127.0.0.1:{port}",
        UPSTREAM_KEEP=keep,
    )
    server = httpx.get(wd.url + "/pid", timeout=15).text
    wait_for(lambda: processes_with(keep + "1"), "the server's own daemon to start")
    assert processes_with(keep + "2")
    for _ in range(3):
        assert httpx.get(wd.url + "/spawn?" + left, timeout=15).text == "spawned"
    wait_for(lambda: not processes_with(left), "the calls' setsid sleepers to be gone")
    assert httpx.get(wd.url + "/pid", timeout=15).text == server
    assert processes_with(keep + "1"), "the server's daemon from before the call was killed"
    assert processes_with(keep + "2"), "the server's child from before the call was killed"


def test_descendants_follow_parents_through_the_table() -> None:
    table = {10: (1, 0), 11: (10, 0), 12: (11, 0), 13: (11, 0), 20: (1, 0), 21: (20, 0)}
    assert descendants([10], table) == {10, 11, 12, 13}
    assert descendants([20, 12], table) == {20, 21, 12}


def test_fork_mode_keeps_strays_a_running_call_may_own() -> None:
    leftovers = Leftovers(Reaper(), server_mode=False)
    assert leftovers._left(start=5, oldest=None)  # no call runs: every stray is left over
    assert leftovers._left(start=5, oldest=6)  # older than every running call
    assert not leftovers._left(start=6, oldest=6)  # perhaps the call that began then


def test_http_mode_kills_only_strays_that_started_while_calls_ran() -> None:
    leftovers = Leftovers(Reaper(), server_mode=True)
    leftovers.busy_since, leftovers.busy_until = 100, 200
    assert not leftovers._left(start=99, oldest=None)  # the server's, from before
    assert leftovers._left(start=150, oldest=None)
    assert not leftovers._left(start=201, oldest=None)  # started between calls
    leftovers.busy_until = None  # calls still run, the oldest began at tick 120
    assert leftovers._left(start=110, oldest=120)
    assert not leftovers._left(start=130, oldest=120)
