"""Language templates on the real swarm (issue 34): for each template that builds here,
`faas new` -> `faas up` -> a call answers the template's greeting; the same through
OpenFaaS's own faas-cli (`new`, `build`, `deploy -f`) with the repository's template/
folder; `faas up --watch` rolls an edited handler while a request loop through the
gateway sees no failed call; a handler with a syntax error fails the build, naming its
file, and deploys nothing.

Offline here: the python and bash templates build on the watchdog image `make up` built;
node on `scripts/node-base.sh`'s image (node:20-slim, or a local one); golang-http needs
golang:1.22 from Docker Hub and is skipped when that image is neither here nor pullable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.e2e.conftest import (
    PASSWORD_FILE,
    ROOT,
    Platform,
    credentials,
    docker,
    logged_in_faas_cli,
    wait_for,
)
from tests.e2e.loops import BODY, RequestLoop

pytestmark = pytest.mark.swarm

LANGUAGES = ["python3-http", "python3", "node", "bash-streaming", "dockerfile", "golang-http"]
# A build (the first of a template: its base layers) and a rolling update, at most.
UP_TIMEOUT = 900
ROLL_TIMEOUT = 300


def image_prefix() -> str:
    return (
        os.environ.get("FUNCTION_IMAGE_PREFIX")
        or support.script_defaults()["FUNCTION_IMAGE_PREFIX"][1]
    )


def base_image(script: str) -> str:
    """A runtime image this machine can build from: the official one, or the local one
    the script builds when it cannot be pulled (scripts/node-base.sh, go-base.sh)."""
    done = subprocess.run([str(ROOT / "scripts" / script)], capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def node_base(platform: Platform) -> str:
    """The node template's runtime here: node:20-slim, or the local image built for it."""
    return base_image("node-base.sh")


@pytest.fixture(scope="module")
def go_base(platform: Platform) -> str:
    """The golang-http template's build image here: golang:1.22, or the local one."""
    return base_image("go-base.sh")


def build_args(language: str, node_base: str, go_base: str) -> list[str]:
    """The build arguments of `language` on this machine."""
    args = [f"WATCHDOG_IMAGE={image_prefix()}/watchdog:latest"]
    if language == "node":
        args.append(f"BASE_IMAGE={node_base}")
    if language == "golang-http":
        args.append(f"GO_IMAGE={go_base}")
    return [flag for arg in args for flag in ("--build-arg", arg)]


def faas(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Our CLI as a user runs it in `folder`; its output (stdout and stderr) in stdout."""
    user, _ = credentials()
    env = {**os.environ, "FAAS_USER": user, "FAAS_PASSWORD_FILE": str(PASSWORD_FILE),
           "FAAS_GATEWAY": support.StackSettings.from_env().gateway_url}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "faas_cli", *args], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=UP_TIMEOUT, check=False)  # fmt: skip
    if check:
        assert done.returncode == 0, f"faas {' '.join(args)}: exit {done.returncode}\n{done.stdout}"
    return done


@pytest.fixture
def name() -> Iterator[str]:
    """A function name owned by the test, its service removed afterwards."""
    owned = f"e2e-tmpl-{uuid.uuid4().hex[:6]}"
    yield owned
    docker("service", "rm", owned, check=False)


def greeting(language: str, said: bytes = BODY) -> bytes:
    return f"Hello from {language}! You said: ".encode() + said


def answers(client: httpx.Client, name: str, expected: bytes) -> bool:
    reply = client.post(f"/function/{name}", content=BODY)
    return reply.status_code == 200 and reply.content == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_new_up_and_call(
    platform: Platform, client: httpx.Client, tmp_path: Path, name: str, node_base: str,
    go_base: str, language: str,
) -> None:  # fmt: skip
    arguments = build_args(language, node_base, go_base)
    faas(tmp_path, "new", "--lang", language, name)
    up = faas(tmp_path, "up", *arguments, "--timeout", str(ROLL_TIMEOUT))
    assert f"{name} is ready" in up.stdout, up.stdout
    wait_for(lambda: answers(client, name, greeting(language)), f"{name} to greet", timeout=60)


@pytest.mark.parametrize("language", LANGUAGES)
def test_faas_cli_new_build_deploy(
    platform: Platform, client: httpx.Client, tmp_path: Path, name: str, node_base: str,
    go_base: str, language: str,
) -> None:  # fmt: skip
    arguments = build_args(language, node_base, go_base)
    shutil.copytree(ROOT / "template", tmp_path / "template")
    faas = logged_in_faas_cli(
        platform.gateway_url, tmp_path, config=tmp_path / ".openfaas", timeout=UP_TIMEOUT
    )

    def faas_cli(*args: str) -> str:
        done = faas(*args)
        assert done.returncode == 0, f"faas-cli {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    faas_cli("new", "--lang", language, name, "--prefix", image_prefix())
    faas_cli("build", "-f", "stack.yaml", *arguments)
    if "." in image_prefix().split("/")[0] or ":" in image_prefix().split("/")[0]:
        faas_cli("push", "-f", "stack.yaml")
    faas_cli("deploy", "-f", "stack.yaml", "--gateway", platform.gateway_url)
    wait_for(lambda: answers(client, name, greeting(language)), f"{name} to greet", timeout=180)


def test_requirements_come_from_wheels_built_here(
    platform: Platform, client: httpx.Client, tmp_path: Path, name: str
) -> None:
    """requirements.txt honoured with no package index reachable from `docker build`:
    `faas up` builds the wheels on this machine and the image installs them."""
    faas(tmp_path, "new", "--lang", "python3-http", name)
    (tmp_path / name / "requirements.txt").write_text("idna==3.10\n")
    (tmp_path / name / "handler.py").write_text(
        "import idna\n\n\ndef handle(event, context):\n"
        "    return idna.encode(event.body.decode()).decode()\n"
    )
    faas(tmp_path, "up", "--build-arg", f"WATCHDOG_IMAGE={image_prefix()}/watchdog:latest",
         "--timeout", str(ROLL_TIMEOUT))  # fmt: skip
    assert list((tmp_path / "build" / name / "wheels").glob("idna-3.10-*.whl"))

    def encoded() -> bool:
        reply = client.post(f"/function/{name}", content="bücher.example".encode())
        return reply.status_code == 200 and reply.text == "xn--bcher-kva.example"

    wait_for(encoded, f"{name} to answer with idna", timeout=60)


def test_up_watch_rolls_an_edited_handler_with_no_failed_call(
    platform: Platform, client: httpx.Client, tmp_path: Path, name: str
) -> None:
    faas(tmp_path, "new", "--lang", "python3-http", name)
    log = tmp_path / "watch.log"
    user, _ = credentials()
    env = {**os.environ, "FAAS_USER": user, "FAAS_PASSWORD_FILE": str(PASSWORD_FILE),
           "FAAS_GATEWAY": platform.gateway_url, "PYTHONUNBUFFERED": "1"}  # fmt: skip
    with log.open("w") as output:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "faas_cli", "up", "--watch", "--timeout", str(ROLL_TIMEOUT),
             "--build-arg", f"WATCHDOG_IMAGE={image_prefix()}/watchdog:latest"],
            cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "watching" in log.read_text(), "faas up --watch to deploy and watch",
                 timeout=UP_TIMEOUT)  # fmt: skip
        old, new = greeting("python3-http"), b"Edited! You said: " + BODY
        wait_for(lambda: answers(client, name, old), f"{name} to greet", timeout=60)
        with RequestLoop(name, 4, lambda answer: answer in (old, new)) as loop:
            wait_for(lambda: loop.calls > 20, "the request loop to get going", timeout=60)
            handler = tmp_path / name / "handler.py"
            handler.write_text(handler.read_text().replace("Hello from python3-http!", "Edited!"))
            wait_for(lambda: "new code answering" in log.read_text(), "the roll",
                     timeout=ROLL_TIMEOUT)  # fmt: skip
            assert answers(client, name, new), log.read_text()
            time.sleep(2)  # calls after the roll, on the new replica only
        assert loop.failures == [], (loop.reasons, log.read_text())
        assert loop.calls > 20
        print(next(line for line in log.read_text().splitlines() if "answering" in line))
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()


def test_a_syntax_error_fails_the_build_naming_the_file(
    platform: Platform, tmp_path: Path, name: str
) -> None:
    faas(tmp_path, "new", "--lang", "python3-http", name)
    (tmp_path / name / "handler.py").write_text("def handle(event, context)\n    return 1\n")
    up = faas(tmp_path, "up", "--build-arg",
              f"WATCHDOG_IMAGE={image_prefix()}/watchdog:latest", check=False)  # fmt: skip
    assert up.returncode == 1, up.stdout
    assert "function/handler.py" in up.stdout, up.stdout
    assert "SyntaxError" in up.stdout, up.stdout
    assert f"docker build of {name} failed" in up.stdout, up.stdout
    assert not docker("service", "ls", "-q", "--filter", f"name={name}").strip()
