"""The watchdog's own log lines: one line each on stderr, which is the container log."""

from __future__ import annotations

import sys
import time


def log(msg: str) -> None:
    """Write one line to the container log (stderr)."""
    sys.stderr.write(f"fwatchdog: {msg}\n")
    sys.stderr.flush()


def log_call(msg: str) -> None:
    """Write one per-call line as the classic Go watchdog does (``2026/01/02 15:04:05 msg``),
    so log checks written against OpenFaaS's docs match ``faas-cli logs``."""
    sys.stderr.write(f"{time.strftime('%Y/%m/%d %H:%M:%S')} {msg}\n")
    sys.stderr.flush()
