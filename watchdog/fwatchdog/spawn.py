"""Starting fprocess: posix_spawn into a new session with pipes on fds 0, 1 and 2.

posix_spawn (clone with CLONE_VFORK in glibc) costs a fraction of Popen's parent-side CPU:
no Python-level bookkeeping and no error pipe (see docs/benchmarks.md). Popen is the
fallback where posix_spawn cannot setsid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping

# Popen's restore_signals: Python ignores these, and an ignored signal stays ignored
# across exec, so the process would not die of SIGPIPE as programs expect.
_SIGDEF = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)
_use_posix_spawn = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")


def prepare_fds() -> None:
    """Make spawning with posix_spawn as safe as Popen(close_fds=True): keep fds 0-2 open
    (so that pipes never land on them) and mark every fd this process inherited (>= 3)
    close-on-exec. Every fd Python opens itself already is close-on-exec (PEP 446)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one
    try:
        names = os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd")
    except OSError:
        return
    for name in names:
        if name.isdigit() and int(name) > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(int(name), False)


def spawn(
    exe: str,
    argv: tuple[str, ...],
    env: Mapping[str, str],
    combine: bool,
    body: bytes | None,
) -> tuple[int, int, int, int, bytes]:
    """Start a process in a new session (its own process group) with pipes on its stdin,
    stdout and stderr (stderr into stdout when `combine`). A `body` (None: streamed later)
    is put into the stdin pipe before the process starts, which then needs no wake-up
    to get it. Returns (pid, stdin write fd or -1 when it is all written and closed,
    stdout read fd, stderr read fd or -1, the part of `body` that did not fit)."""
    global _use_posix_spawn
    fds: list[int] = []
    rest = b""
    try:
        in_r, in_w = os.pipe()
        fds += (in_r, in_w)
        os.set_blocking(in_w, False)
        if body:
            try:
                rest = body[os.write(in_w, body) :]
            except BlockingIOError:  # a pipe with no room (fs.pipe-user-pages-soft)
                rest = body
        if body is not None and not rest:
            os.close(in_w)
            fds.remove(in_w)
            in_w = -1
        out_r, out_w = os.pipe()
        fds += (out_r, out_w)
        err_r, err_w = -1, out_w
        if not combine:
            err_r, err_w = os.pipe()
            fds += (err_r, err_w)
        pid = -1
        if _use_posix_spawn:
            try:
                pid = os.posix_spawn(
                    exe,
                    argv,
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, in_r, 0),
                        (os.POSIX_SPAWN_DUP2, out_w, 1),
                        (os.POSIX_SPAWN_DUP2, err_w, 2),
                    ],
                    setsid=True,
                    setsigdef=_SIGDEF,
                )
            except NotImplementedError:  # no POSIX_SPAWN_SETSID on this platform
                _use_posix_spawn = False
        if pid < 0:
            proc = subprocess.Popen(
                argv,
                executable=exe,
                stdin=in_r,
                stdout=out_w,
                stderr=err_w,
                env=env,
                start_new_session=True,
            )
            pid = proc.pid
            proc.returncode = 0  # reaped by Child, not by Popen's __del__ or _cleanup
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    for fd in (in_r, out_w) if combine else (in_r, out_w, err_w):
        os.close(fd)
    return pid, in_w, out_r, err_r, rest
