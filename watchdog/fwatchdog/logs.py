"""The watchdog's own log lines: one line each on stderr, which is the container log."""

from __future__ import annotations

import sys


def log(msg: str) -> None:
    """Write one line to the container log (stderr)."""
    sys.stderr.write(f"fwatchdog: {msg}\n")
    sys.stderr.flush()
