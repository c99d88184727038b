"""Helpers every test package (and bench/) shares: free ports, bounded waits for background
effects, child processes on a port, the watchdog built into its shipped form (the zipapp) and
started from it, and where the deployed stack is.

The deadlines here are safety limits for a stuck test, never timing assertions.
"""

from __future__ import annotations

import atexit
import functools
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pytest

T = TypeVar("T")

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


def require_compiler(build: Callable[[], T]) -> T:
    """`build()`'s result (a C module the tests compile); skip the test when this machine
    has no C compiler or no Python headers, but fail it in CI, as `require_tool` does. A
    compiler that refuses the source always fails it."""
    from bench.native.build import BuildFailed
    from bench.processes import NotAvailable

    try:
        return build()
    except BuildFailed:
        raise
    except NotAvailable as missing:
        reason = f"{missing} (Debian: apt-get install gcc python3-dev)"
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


STARTUP_SECONDS = 20.0


class BackgroundProcess:
    """A child process listening on 127.0.0.1:`port`, stopped (and reaped) on exit.

    Its output goes to `log_file` when given, else stdout is dropped and stderr piped.
    """

    def __init__(
        self,
        args: list[str],
        port: int,
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path = ROOT,
        log_file: Path | None = None,
    ) -> None:
        self.port = port
        self.env = {**os.environ, **(env or {})}
        if log_file is None:
            self.process = subprocess.Popen(
                args, env=self.env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        else:
            with log_file.open("wb") as log:
                self.process = subprocess.Popen(
                    args, env=self.env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
                )

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Block until it accepts connections; stop it and fail if it does not."""
        try:
            wait_for_port(self.port, self.process, STARTUP_SECONDS)
        except (RuntimeError, AssertionError):
            self.stop()
            raise

    def __enter__(self) -> BackgroundProcess:
        self.wait_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode


def watchdog_settings(fprocess: str, port: int, folder: Path) -> dict[str, str]:
    """The environment that starts a watchdog running `fprocess` on `port`, with its lock
    file in `folder` (ours, or a reference watchdog that reads the same variables)."""
    return {
        "fprocess": fprocess,
        "port": str(port),
        "lock_file": str(folder / f"watchdog-{port}.lock"),
    }


class Watchdog(BackgroundProcess):
    """The watchdog zipapp running `fprocess` on a free port, its output in `log_file`."""

    def __init__(self, fprocess: str, folder: Path, settings: Mapping[str, str]) -> None:
        port = free_port()
        env = {**watchdog_settings(fprocess, port, folder), **settings}
        log_file = folder / f"watchdog-{port}.log"
        argv = [sys.executable, str(watchdog_zipapp())]
        super().__init__(argv, port, env, cwd=folder, log_file=log_file)
        self.lock_file = Path(env["lock_file"])
        self.log_file = log_file

    def log(self) -> str:
        """Everything the watchdog wrote to stdout/stderr so far."""
        return self.log_file.read_text(errors="replace")

    def healthy(self) -> bool:
        """Whether GET /_/health answers 200."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/_/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def wait_ready(self) -> None:
        """Block until /_/health answers 200; stop it and fail, with its log, if it does not."""
        alive = self.process
        try:
            wait_for(lambda: alive.poll() is not None or self.healthy(), "the watchdog's health")
        except AssertionError:
            self.stop()
            raise AssertionError(f"watchdog did not become healthy:\n{self.log()}") from None
        assert alive.poll() is None, f"watchdog exited:\n{self.log()}"

    def __enter__(self) -> Watchdog:
        self.wait_ready()
        return self

    def peak_rss_kib(self) -> int:
        """VmHWM of the watchdog process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")


def start_watchdog(
    fprocess: str, folder: Path, settings: Mapping[str, str] | None = None, *, wait: bool = True
) -> Watchdog:
    """A real function replica: the watchdog running `fprocess`, healthy unless `wait` is
    false. Stop it with `stop()`, or use it as a context manager."""
    watchdog = Watchdog(fprocess, folder, settings or {})
    if wait:
        watchdog.wait_ready()
    return watchdog


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


COMMON_SH = ROOT / "scripts" / "common.sh"


def script_defaults() -> dict[str, tuple[str | None, str]]:
    """The settings scripts/common.sh exports with a default, read from that file (the one
    place the stack's defaults are written): `export NAME=${NAME:-value}` gives
    `{NAME: (None, value)}`, and `export NAME=${NAME:-${OLD:-value}}` (a setting that
    still reads its old name) `{NAME: (OLD, value)}`."""
    pattern = re.compile(
        r"^export ([A-Z_]+)=\$\{\1:-(?:\$\{([A-Z_]+):-([^}$]*)\}|([^}$]*))\}", re.MULTILINE
    )
    return {
        name: (old or None, nested_default if old else default)
        for name, old, nested_default, default in pattern.findall(COMMON_SH.read_text())
    }


@dataclass(frozen=True)
class StackSettings:
    """The deployed stack: its name, functions network and published ports, from the
    variables scripts/ reads, with scripts/common.sh's defaults."""

    name: str
    network: str
    gateway_port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StackSettings:
        """Read STACK_NAME, FUNCTIONS_NETWORK and FAAS_GATEWAY_PORT (or its old name
        GATEWAY_PORT)."""
        defaults = script_defaults()

        def setting(name: str) -> str:
            if name not in defaults:
                raise LookupError(f"scripts/common.sh has no default for {name}")
            old_name, default = defaults[name]
            return env.get(name) or (env.get(old_name) if old_name else None) or default

        def port(name: str) -> int:
            value = setting(name)
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise ValueError(f"{name}={value!r}: expected a TCP port number")
            return int(value)

        return cls(
            name=setting("STACK_NAME"),
            network=setting("FUNCTIONS_NETWORK"),
            gateway_port=port("FAAS_GATEWAY_PORT"),
        )

    @property
    def gateway_url(self) -> str:
        """The gateway as this machine reaches it (its published port)."""
        return f"http://127.0.0.1:{self.gateway_port}"


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
