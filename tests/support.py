"""Helpers every test package shares: free ports, bounded waits for background effects, and
the watchdog built into its shipped form (the zipapp).

The deadlines here are safety limits for a stuck test, never timing assertions.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def require_tool(name: str, installed_by: str) -> str:
    """The path of the command `name`; skip the test without it, but fail it in CI.

    CI (env `CI=true`) installs every tool the tests use, so a missing one there is a
    broken install step, not a reason to skip a check.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed ({installed_by} installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run this check")
    pytest.skip(reason)


def wait_for(
    condition: Callable[[], object],
    what: str = "a condition",
    timeout: float = 20.0,
    *,
    interval: float = 0.02,
    ignore: tuple[type[BaseException], ...] = (OSError,),
) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds.

    Exceptions of the `ignore` types count as "not yet" (a server still starting).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except ignore:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 20.0
) -> None:
    """Block until 127.0.0.1:`port` accepts connections; fail early if `process` dies."""

    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_for(listening, f"something to listen on 127.0.0.1:{port}", timeout, interval=0.05)


def build_watchdog(output: Path) -> Path:
    """Build the watchdog zipapp with scripts/build-watchdog.sh (what `make images` ships)."""
    subprocess.run([str(ROOT / "scripts" / "build-watchdog.sh"), str(output)], check=True)
    return output


@functools.cache
def watchdog_zipapp() -> Path:
    """fwatchdog.pyz built once per test session into a temporary folder: the tests run the
    shipped artifact, not the package's sources."""
    folder = Path(tempfile.mkdtemp(prefix="fwatchdog-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_watchdog(folder / "fwatchdog.pyz")


FAAS_CLI_FALLBACK = ROOT.parent / "shared" / "refs" / "faas-cli"


def faas_cli() -> Path:
    """The real OpenFaaS faas-cli: env `FAAS_CLI`, else `../shared/refs/faas-cli` beside
    the checkout; skip the test, saying where it looked, when neither exists."""
    named = os.environ.get("FAAS_CLI")
    for candidate in (Path(named) if named else None, FAAS_CLI_FALLBACK):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"FAAS_CLI={named!r} is not an executable file" if named else "FAAS_CLI is unset"
    pytest.skip(f"no faas-cli to test with: {where}, and {FAAS_CLI_FALLBACK} does not exist")
