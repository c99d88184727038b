"""The watchdog image's HEALTHCHECK: cheap (no Python per check) and true to `/_/health`.

The command is read from watchdog/Dockerfile and run by `sh -c` as Docker runs a shell-form
HEALTHCHECK, against a watchdog started here with its own `lock_file`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from fwatchdog.config import Config

from .conftest import StartWatchdog

DOCKERFILE = Path(__file__).resolve().parents[2] / "watchdog" / "Dockerfile"


def healthcheck_command() -> str:
    """The shell command of the Dockerfile's HEALTHCHECK (continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    match = re.search(r"\bCMD\s+(.*)$", line)
    assert match is not None, line
    return match.group(1).strip()


def check(command: str, lock_file: Path) -> int:
    env = {**os.environ, "lock_file": str(lock_file)}
    return subprocess.run(["sh", "-c", command], env=env, timeout=10, check=False).returncode


def test_the_healthcheck_starts_no_python() -> None:
    command = healthcheck_command()
    assert not command.startswith("["), "shell form, so that it can read $lock_file"
    assert "python" not in command
    assert "fwatchdog" not in command


def test_the_healthcheck_follows_the_watchdogs_readiness(start_watchdog: StartWatchdog) -> None:
    command = healthcheck_command()
    wd = start_watchdog("cat")
    assert check(command, wd.lock_file) == 0
    assert wd.stop() == 0
    assert check(command, wd.lock_file) == 1


def test_the_healthcheck_falls_back_to_the_watchdogs_default_lock_file() -> None:
    assert f"${{lock_file:-{Config.lock_file}}}" in healthcheck_command()
