"""Killing what calls leave behind, however it re-parented or changed session.

A call's process group is killed when the call ends (``child.Child``), but a process that
called ``setsid`` (``setsid sleep 300 &``, a daemon) has left the group and the session.
Which call started it is not written anywhere once its parent has exited. The ways to find
out, and why this module takes the last one:

- a cgroup per call would hold every descendant, but containers rarely let a process make
  cgroups, and it would cost a mkdir and a write per call;
- a token in each call's environment, found again in ``/proc/<pid>/environ``, is lost by
  any program that clears or replaces its environment (``env -i``, most daemons' exec),
  cannot be read from a process that is not dumpable (setuid programs) without
  CAP_SYS_PTRACE, and costs a variable per call: it could only sharpen the rule below;
- what the kernel already does: the watchdog is PID 1 or a child subreaper
  (``reaper``), so every orphan of a call comes back to it as a direct child. Whatever a
  call leaves behind is therefore in the subtree of a child of the watchdog that is
  neither a running call's fprocess nor http mode's server (the reaper's ``claimed``
  pids): its *strays*. A stray started at a tick (``/proc/<pid>/stat``, clock ticks on
  CLOCK_BOOTTIME) before the oldest running call began cannot belong to any running
  call, so it and everything under it is killed; a stray that started after that stays
  until the calls that were running when it started have ended, then goes. In http mode
  the server is no call: only strays that started while calls were running are killed,
  never what the server started between calls (a daemon of its own), nor anything still
  under the server (its workers, a browser it keeps for later calls: the watchdog cannot
  tell them from a call's work, and the server is alive to manage them).

The cost per call is a clock read and one ``pread`` of the watchdog's children list
(``/proc/<pid>/task/<pid>/children``, kept open); ``/proc`` is scanned only when a stray
is there. A tree is frozen (SIGSTOP) and scanned again until no new process appears
in it, then killed, so nothing forked meanwhile slips out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable

from .logs import log
from .reaper import Reaper

# Rounds of freezing newly found processes of a tree before killing what was found: a
# tree that still grows after this many (a fork bomb) is killed as far as it was seen,
# and the rest comes back to the watchdog as strays.
MAX_FREEZE_ROUNDS = 16

_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)
_TICK_NS = 10**9 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
CHILDREN_FILE = "/proc/{pid}/task/{pid}/children"
CHILDREN_READ = 65536  # a longer list is swept without reading it through
# After ")" in /proc/<pid>/stat: state is field 0, the parent pid 1, the start time 19.
_PARENT, _START = 1, 19


def now_ticks() -> int:
    """This moment in /proc/<pid>/stat's unit: clock ticks since boot."""
    assert _BOOTTIME is not None
    return time.clock_gettime_ns(_BOOTTIME) // _TICK_NS


def process_table() -> dict[int, tuple[int, int]]:
    """Every process in /proc: pid -> (parent pid, start tick)."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
            table[int(name)] = (int(fields[_PARENT]), int(fields[_START]))
        except (OSError, IndexError, ValueError):
            continue  # it has just ended
    return table


def descendants(roots: Iterable[int], table: dict[int, tuple[int, int]]) -> set[int]:
    """`roots` and every process under them in `table`."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found = set(roots)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


class Leftovers:
    """Tracks when calls run and kills the strays that ended calls left (see above)."""

    def __init__(self, reaper: Reaper, server_mode: bool) -> None:
        self.reaper = reaper
        # http mode: strays count only if they started while calls ran (busy_since to
        # busy_until, None while still busy); fork mode: every stray is a call's.
        self.server_mode = server_mode
        self.running: dict[int, int] = {}  # start tick -> calls running that began then
        self.busy_since = 0
        self.busy_until: int | None = None
        self.enabled = sys.platform.startswith("linux") and _BOOTTIME is not None
        # Our orphans come back to the main thread, whose children this file lists; kept
        # open, each check is one pread (the kernel renders it anew at offset 0).
        self.children_fd = -1
        if self.enabled:
            with contextlib.suppress(OSError):  # a kernel without CONFIG_PROC_CHILDREN
                self.children_fd = os.open(CHILDREN_FILE.format(pid=os.getpid()), os.O_RDONLY)
        # http mode: strays that started before the calls now running began, the server's
        # for good (windows only move on): no /proc scan per call for a server's daemon.
        self.kept: set[int] = set()
        reaper.on_stray = self.check

    def call_started(self) -> int:
        """A call begins: returns its start tick, for call_ended."""
        if not self.enabled:
            return 0
        tick = now_ticks()
        if not self.running:
            self.busy_since, self.busy_until = tick, None
        self.running[tick] = self.running.get(tick, 0) + 1
        return tick

    def call_ended(self, tick: int) -> None:
        """The call that began at `tick` is over: kill what it (or others) left."""
        if not self.enabled:
            return
        left = self.running.pop(tick) - 1
        if left:
            self.running[tick] = left
        elif not self.running and self.server_mode:
            self.busy_until = now_ticks()
        self.check()

    def check(self) -> None:
        """Sweep if the watchdog has a child that is no running call's nor the server."""
        if not self.enabled or self.reaper.starting:
            return
        if self.children_fd >= 0:
            try:
                children = os.pread(self.children_fd, CHILDREN_READ, 0)
            except OSError:
                children = b"?"
            if len(children) < CHILDREN_READ:
                pids = [int(pid) for pid in children.split()]
                kept, claimed = self.kept, self.reaper.claimed
                if kept:
                    kept.intersection_update(pids)  # before a reaped pid can be reused
                if all(pid in claimed or pid in kept for pid in pids):
                    return
        else:
            try:
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return  # no child at all
        self.sweep()

    def sweep(self, everything: bool = False) -> None:
        """Kill the strays that no running call can own (every stray if `everything`)
        and everything under them."""
        if not self.enabled:
            return
        table = process_table()
        me = os.getpid()
        claimed = self.reaper.claimed
        oldest = min(self.running) if self.running else None
        tops = []
        for pid, (parent, start) in table.items():
            if parent != me or pid in claimed:
                continue
            if everything or self._left(start, oldest):
                tops.append(pid)
            elif self.server_mode and start < self.busy_since:
                self.kept.add(pid)
        if tops:
            killed = self._kill_trees(tops, table)
            log(f"killed {killed} process(es) left behind by calls")

    def _left(self, start: int, oldest: int | None) -> bool:
        if oldest is not None and start >= oldest:
            return False  # perhaps a running call's
        if self.server_mode:
            until = self.busy_until
            return self.busy_since <= start and (until is None or start <= until)
        return True

    def _kill_trees(self, tops: list[int], table: dict[int, tuple[int, int]]) -> int:
        frozen: set[int] = set()
        found = descendants(tops, table)
        for _ in range(MAX_FREEZE_ROUNDS):
            _signal(found, signal.SIGSTOP)  # a stopped process forks no more
            frozen |= found
            found = descendants(frozen, process_table()) - frozen
            if not found:
                break
        frozen |= found
        _signal(frozen, signal.SIGKILL)
        return len(frozen)
