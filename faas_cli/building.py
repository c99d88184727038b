"""Building a function's image: from its language template (faas-cli's build context,
`faas_cli.templates`) or from its own Dockerfile, then `docker build` and, for an image
that names a registry, `docker push`.

A template with a `wheels/` folder gets the handler's requirements.txt as wheels built
on this machine (`pip wheel`), so that `docker build` needs no package index; they are
kept per requirements file in build/.wheels/ and rebuilt only when it changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from faas_cli.definitions import FunctionDefinition
from faas_cli.errors import CliError, UsageError
from faas_cli.templates import (
    BUILD_FOLDER,
    DOCKERFILE_LANG,
    FUNCTION_FOLDER,
    assemble_context,
    context_digest,
    find_template,
    requirements,
    tagged,
)

WHEELS_FOLDER = "wheels"
WHEEL_CACHE = ".wheels"
REQUIREMENTS_FILE = "requirements.txt"

Run = Callable[..., "subprocess.CompletedProcess[Any]"]


@dataclass(frozen=True)
class Build:
    """What one build produced: the image as the definition names it, the same image
    tagged with its context's digest (what `faas up` deploys), and the context."""

    image: str
    digest_image: str
    context: Path


def names_registry(image: str) -> bool:
    """Whether `image`'s first part is a registry host (has a port or a dot), as
    scripts/images.sh decides what to push: localhost/faas/x stays local."""
    first, slash, _ = image.partition("/")
    return bool(slash) and (":" in first or "." in first)


class Builder:
    """Builds the functions of one definition file with one set of build arguments."""

    def __init__(
        self,
        definitions_folder: Path,
        template_root: Path,
        build_args: Mapping[str, str],
        out: TextIO,
        run: Run = subprocess.run,
        docker: str | None = None,
    ) -> None:
        self.build_root = definitions_folder / BUILD_FOLDER
        self.template_root = template_root
        self.build_args = dict(build_args)
        self.out = out
        self._run = run
        self._docker = docker

    def context(self, function: FunctionDefinition) -> Path:
        """The build context of `function`, assembled (templates) or as it is (Dockerfile)."""
        if function.handler is None:
            raise UsageError(f"functions.{function.name}.handler: required to build (a "
                             "template's handler, or a folder with a Dockerfile)")  # fmt: skip
        if function.lang is None or function.lang == DOCKERFILE_LANG:
            if not (function.handler / "Dockerfile").is_file():
                raise UsageError(f"functions.{function.name}.handler: no Dockerfile in "
                                 f"{function.handler}")  # fmt: skip
            return function.handler
        template = find_template(self.template_root, function.lang)
        context = assemble_context(template, function.handler, self.build_root / function.name)
        wanted = requirements(context / FUNCTION_FOLDER / REQUIREMENTS_FILE)
        if wanted and (template.path / WHEELS_FOLDER).is_dir():
            self._add_wheels(context / FUNCTION_FOLDER / REQUIREMENTS_FILE, context / WHEELS_FOLDER)
        return context

    def plan(self, function: FunctionDefinition) -> Build:
        """The context of `function` made ready and the tags its build will get."""
        context = self.context(function)
        digest = context_digest(context, self.arguments(function))
        return Build(function.image, tagged(function.image, digest), context)

    def arguments(self, function: FunctionDefinition) -> dict[str, str]:
        """The build arguments: the definition's `build_args`, then the command line's."""
        return {**function.build_args, **self.build_args}

    def build(self, function: FunctionDefinition, plan: Build | None = None) -> Build:
        """`docker build` of `function` (of its `plan` if made already), tagged as named
        and with its digest."""
        build = plan or self.plan(function)
        command = [self.docker(), "build", "-t", build.image, "-t", build.digest_image]
        for key, value in self.arguments(function).items():
            command += ["--build-arg", f"{key}={value}"]
        self._say(f"building {build.image} from {build.context}")
        result = self._run([*command, str(build.context)], check=False)
        if result.returncode != 0:
            raise CliError(f"docker build of {function.name} failed (exit {result.returncode}): "
                           "its output is above")  # fmt: skip
        return build

    def push(self, images: Sequence[str]) -> None:
        """`docker push` each image."""
        for image in images:
            self._say(f"pushing {image}")
            result = self._run([self.docker(), "push", "--quiet", image], check=False)
            if result.returncode != 0:
                raise CliError(f"docker push of {image} failed (exit {result.returncode})")

    def _add_wheels(self, requirements_file: Path, wheels: Path) -> None:
        text = requirements_file.read_bytes()
        cache = self.build_root / WHEEL_CACHE / hashlib.sha256(text).hexdigest()[:16]
        if not cache.is_dir():
            self._say(f"building wheels for {requirements_file} (pip wheel, on this machine)")
            partial = cache.with_name(cache.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            result = self._run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial),
                 "-r", str(requirements_file)], check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise CliError(f"pip wheel -r {requirements_file} failed (exit "
                               f"{result.returncode}): its output is above")  # fmt: skip
            partial.rename(cache)
        wheels.mkdir(exist_ok=True)
        for wheel in cache.glob("*.whl"):
            shutil.copy2(wheel, wheels / wheel.name)

    def docker(self) -> str:
        """The docker command (found on PATH unless given)."""
        if self._docker is None:
            self._docker = shutil.which("docker")
            if self._docker is None:
                raise UsageError("faas build needs the docker command (install Docker Engine)")
        return self._docker

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
