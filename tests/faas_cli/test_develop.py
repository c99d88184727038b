"""`faas up` end to end without Docker: `faas new`, then `faas up` against a live gateway
with an in-memory provider, `docker` being a script that logs its arguments."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas_cli.__main__ import main
from gateway.config import BasicAuthCredentials
from tests.gateway.harness import GatewayThread
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import wait_for

PASSWORD = "up-secret"
# Fails the build of a context whose handler says BROKEN, as a failing RUN step would.
FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "{log}"
context=$(eval echo \\${{$#}})
if grep -rq BROKEN "$context/function" 2>/dev/null; then
  echo "SyntaxError in function/handler.py" >&2
  exit 1
fi
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder, a gateway with no functions, and a fake docker on PATH."""
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "docker").write_text(FAKE_DOCKER.format(log=tmp_path / "docker.log"))
    (bin_folder / "docker").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    credentials = BasicAuthCredentials("admin", PASSWORD)
    with GatewayThread(MemoryProvider([]), basic_auth=credentials,
                       image_allowlist=("faas/",)) as running:  # fmt: skip
        monkeypatch.setenv("FAAS_GATEWAY", running.url)
        monkeypatch.setenv("FAAS_PASSWORD_FILE", str(password_file))
        monkeypatch.setenv("PATH", f"{bin_folder}:/usr/bin:/bin")
        monkeypatch.delenv("FAAS_TEMPLATE_DIR", raising=False)
        monkeypatch.chdir(work)
        yield work


def docker_log(folder: Path) -> list[str]:
    log = folder.parent / "docker.log"
    return log.read_text().splitlines() if log.exists() else []


def test_new_then_up_deploys_the_build_and_a_second_up_rolls_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "--lang", "python3", "--prefix", "faas", "hello"]) == 0
    assert main(["up", "--build-arg", "WATCHDOG_IMAGE=w:1"]) == 0
    out = capsys.readouterr().out
    (build,) = docker_log(folder)
    assert build.startswith("build -t faas/hello:latest -t faas/hello:latest-")
    assert "--build-arg WATCHDOG_IMAGE=w:1" in build
    first = build.split()[4]
    assert f"deployed hello ({first})" in out
    assert "hello is ready" in out

    (folder / "hello" / "handler.py").write_text("def handle(req):\n    return 'new'\n")
    assert main(["up"]) == 0
    out = capsys.readouterr().out
    second = docker_log(folder)[-1].split()[4]
    assert second != first
    assert f"updating hello ({second}): rolling update" in out
    assert "hello is updated" in out


def test_a_failed_build_deploys_nothing(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    main(["new", "--lang", "python3", "--prefix", "faas", "hello"])
    (folder / "hello" / "handler.py").write_text("BROKEN\n")
    assert main(["up"]) == 1
    err = capfd.readouterr().err
    assert "SyntaxError in function/handler.py" in err
    assert "faas: docker build of hello failed (exit 1)" in err
    assert main(["list"]) == 0
    assert "hello" not in capfd.readouterr().out


def test_up_watch_rolls_a_saved_change_until_interrupted(folder: Path) -> None:
    main(["new", "--lang", "python3", "--prefix", "faas", "hello"])
    log = folder / "watch.log"
    with log.open("w") as output:
        watcher = subprocess.Popen([sys.executable, "-m", "faas_cli", "up", "--watch"],
                                   cwd=folder, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        wait_for(lambda: "watching" in log.read_text(), "the first deploy", timeout=60)
        (folder / "hello" / "handler.py").write_text("def handle(req):\n    return 'new'\n")
        wait_for(lambda: "new code answering" in log.read_text(), "the roll", timeout=60)
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 130
    printed = log.read_text()
    assert "deployed hello" in printed
    assert "updating hello" in printed
    assert re.search(r"hello: new code answering \d+\.\ds after the save", printed), printed
    assert len(docker_log(folder)) == 2
