"""`Builder`: the docker and pip commands a build runs (recorded, not run), the wheels
it puts in a template's context, and what `faas up` rolls (`Rollout`, with fakes)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from faas_cli.building import Build, Builder, names_registry
from faas_cli.definitions import FunctionDefinition, load_definitions
from faas_cli.develop import Rollout
from faas_cli.errors import ApiError, CliError
from faas_cli.templates import CHECKOUT_TEMPLATES, find_template, new_function

DOCKER = "/usr/bin/docker"


class Recorder:
    """Stands in for subprocess.run: records each command; `pip wheel` writes a wheel."""

    def __init__(self, failing: str = "") -> None:
        self.commands: list[list[str]] = []
        self.failing = failing

    def __call__(self, command: Sequence[str], check: bool = False) -> Any:
        self.commands.append(list(command))
        if "wheel" in command:
            folder = Path(command[command.index("--wheel-dir") + 1])
            (folder / "requests-2.0-py3-none-any.whl").write_bytes(b"wheel")
        failed = self.failing and self.failing in command
        return subprocess.CompletedProcess(command, 1 if failed else 0)


def function(tmp_path: Path, language: str = "python3-http") -> FunctionDefinition:
    stack = tmp_path / "faas.yml"
    new_function(stack, "hello", find_template(CHECKOUT_TEMPLATES, language), "localhost/faas")
    text = stack.read_text() + "    build_args: {BASE_IMAGE: from-file, OTHER: kept}\n"
    stack.write_text(text)
    return load_definitions(stack).functions["hello"]


def builder(tmp_path: Path, run: Recorder, **args: str) -> Builder:
    return Builder(tmp_path, CHECKOUT_TEMPLATES, args, io.StringIO(), run=run, docker=DOCKER)


def test_docker_build_gets_both_tags_and_the_arguments(tmp_path: Path) -> None:
    run = Recorder()
    build = builder(tmp_path, run, BASE_IMAGE="from-flag").build(function(tmp_path))
    assert build.image == "localhost/faas/hello:latest"
    assert build.digest_image.startswith("localhost/faas/hello:latest-")
    assert build.context == tmp_path / "build" / "hello"
    assert run.commands == [
        [DOCKER, "build", "-t", build.image, "-t", build.digest_image,
         "--build-arg", "BASE_IMAGE=from-flag", "--build-arg", "OTHER=kept", str(build.context)],
    ]  # fmt: skip


def test_requirements_become_wheels_in_the_context_built_once(tmp_path: Path) -> None:
    hello = function(tmp_path)
    assert hello.handler is not None
    (hello.handler / "requirements.txt").write_text("# deps\nrequests==2.0\n")
    run = Recorder()
    first = builder(tmp_path, run).build(hello)
    assert (first.context / "wheels" / "requests-2.0-py3-none-any.whl").read_bytes() == b"wheel"
    builder(tmp_path, run).build(hello)
    pips = [c for c in run.commands if "pip" in c]
    assert len(pips) == 1  # the second build takes them from build/.wheels/
    assert pips[0][-2:] == ["-r", str(first.context / "function" / "requirements.txt")]
    (hello.handler / "requirements.txt").write_text("requests==2.0\nidna==3.0\n")
    builder(tmp_path, run).build(hello)
    assert len([c for c in run.commands if "pip" in c]) == 2


def test_no_requirements_no_pip(tmp_path: Path) -> None:
    run = Recorder()
    builder(tmp_path, run).build(function(tmp_path))
    assert not [c for c in run.commands if "pip" in c]


@pytest.mark.parametrize(("failing", "message"), [("build", "docker build of hello failed"),
                                                   ("wheel", "pip wheel -r")])  # fmt: skip
def test_a_failed_step_is_an_error_naming_it(tmp_path: Path, failing: str, message: str) -> None:
    hello = function(tmp_path)
    assert hello.handler is not None
    (hello.handler / "requirements.txt").write_text("requests==2.0\n")
    with pytest.raises(CliError, match=message):
        builder(tmp_path, Recorder(failing=failing)).build(hello)


def test_only_images_that_name_a_registry_are_pushed() -> None:
    assert names_registry("localhost:5000/faas/hello:latest")
    assert names_registry("registry.example.com/team/hello")
    assert not names_registry("localhost/faas/hello:latest")
    assert not names_registry("hello:latest")


class FakeBuilder:
    """Builds nothing: each plan's digest is the handler's current text."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.pushed: list[str] = []

    def plan(self, function: FunctionDefinition) -> Build:
        assert function.handler is not None
        digest = (function.handler / "handler.py").read_text().strip()
        return Build(function.image, f"{function.image}-{digest}", function.handler)

    def build(self, function: FunctionDefinition, plan: Build) -> Build:
        self.built.append(plan.digest_image)
        return plan

    def push(self, images: Sequence[str]) -> None:
        self.pushed.extend(images)


class FakeClient:
    """The management API as `faas up` uses it: deploy once, then 409 and update."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        if any(call[0] == "deploy" for call in self.calls):
            raise ApiError("exists", 409)
        self.calls.append(("deploy", body["image"]))
        return {}

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("update", body["image"]))
        return {}

    def describe(self, name: str) -> dict[str, Any]:
        return {"availableReplicas": 1, "updateState": "completed"}


@pytest.mark.parametrize("prefix", ["localhost/faas", "localhost:5000/faas"])
def test_up_deploys_then_rolls_only_new_builds(tmp_path: Path, prefix: str) -> None:
    stack = tmp_path / "faas.yml"
    new_function(stack, "hello", find_template(CHECKOUT_TEMPLATES, "python3"), prefix)
    hello = load_definitions(stack).functions["hello"]
    assert hello.handler is not None
    (hello.handler / "handler.py").write_text("one")
    fake, client = FakeBuilder(), FakeClient()
    roll = Rollout(fake, client, 5.0, io.StringIO())  # type: ignore[arg-type]
    assert roll(hello)
    assert not roll(hello)  # the same build: nothing to roll
    (hello.handler / "handler.py").write_text("two")
    assert roll(hello)
    image = f"{prefix}/hello:latest"
    assert client.calls == [("deploy", f"{image}-one"), ("update", f"{image}-two")]
    assert fake.built == [f"{image}-one", f"{image}-two"]
    pushed = [image, f"{image}-one", image, f"{image}-two"]
    assert fake.pushed == (pushed if prefix.startswith("localhost:") else [])
