"""The watchdog's own log lines: one line each on stderr, which is the container log."""

from __future__ import annotations

import contextlib
import os
import sys
import time


def log(msg: str) -> None:
    """Write one line to the container log (stderr)."""
    sys.stderr.write(f"fwatchdog: {msg}\n")
    sys.stderr.flush()


class _Stamp:
    """The local time as the Go watchdog's log lines show it, made once per second."""

    second = -1
    text = ""


def log_call(msg: str) -> None:
    """Write one per-call line as the classic Go watchdog does (``2026/01/02 15:04:05 msg``),
    so log checks written against OpenFaaS's docs match ``faas-cli logs``.

    Two lines a call: one `write` each, straight to fd 2 (a line under PIPE_BUF is written
    whole), with no text layer and the time formatted once a second."""
    now = time.time()
    second = int(now)
    if second != _Stamp.second:
        _Stamp.second, _Stamp.text = second, time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
    # A log line never fails a call (stderr closed, or a full non-blocking pipe).
    with contextlib.suppress(OSError):
        os.write(2, f"{_Stamp.text} {msg}\n".encode())
