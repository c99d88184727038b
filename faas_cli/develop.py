"""From a handler to a running function: `faas new`, `faas template list`, `faas build`
and `faas up [--watch]` (docs/templates.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from faas_cli.building import Builder, names_registry
from faas_cli.client import GatewayClient
from faas_cli.definitions import DEFAULT_FILE, DefinitionFile, FunctionDefinition
from faas_cli.errors import EXIT_OK, UsageError
from faas_cli.output import print_table
from faas_cli.session import client_of, definitions_of, deploy_or_update, wait_until_ready
from faas_cli.templates import (
    DEFAULT_IMAGE_PREFIX,
    find_template,
    list_templates,
    new_function,
    template_root,
)
from faas_cli.watch import WatchLoop, file_changes

# The scripts' setting (scripts/common.sh): the image prefix the gateway's allow-list takes.
IMAGE_PREFIX_ENV = "FUNCTION_IMAGE_PREFIX"


def build_options() -> argparse.ArgumentParser:
    """The flags of the commands that build."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--build-arg", action="append", default=[], metavar="KEY=VALUE",
        help="a docker build argument (after the file's build_args), e.g. "
        "BASE_IMAGE=local/node:20-bookworm",
    )  # fmt: skip
    options.add_argument(
        "--template-dir", metavar="DIR",
        help="the language templates (env FAAS_TEMPLATE_DIR; default ./template beside the "
        "definition file, else the checkout's template/)",
    )  # fmt: skip
    return options


def cmd_new(args: argparse.Namespace, out: TextIO) -> int:
    stack = Path(args.file or DEFAULT_FILE)
    template = find_template(template_root(args.template_dir, stack.parent), args.lang)
    prefix = args.prefix or os.environ.get(IMAGE_PREFIX_ENV) or DEFAULT_IMAGE_PREFIX
    handler = new_function(stack, args.name, template, prefix)
    out.write(f"created {handler} ({template.language}) and added {args.name} to {stack}\n")
    if template.welcome_message:
        out.write(template.welcome_message + "\n")
    out.write(f"next: faas up{'' if args.file is None else f' -f {stack}'}\n")
    return EXIT_OK


def cmd_template(args: argparse.Namespace, out: TextIO) -> int:
    root = template_root(args.template_dir)
    templates = list_templates(root)
    print_table(("LANGUAGE", "FPROCESS"),
                [(t.language, t.fprocess or "") for t in templates.values()], out)  # fmt: skip
    out.write(f"templates in {root}\n")
    return EXIT_OK


def cmd_build(args: argparse.Namespace, out: TextIO) -> int:
    definitions = definitions_of(args)
    builder = _builder(args, definitions, out)
    for function in _buildable(definitions, args.names):
        if args.shrinkwrap:
            out.write(f"{function.name} shrink-wrapped to {builder.context(function)}\n")
        else:
            builder.build(function)
    return EXIT_OK


def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    definitions = definitions_of(args)
    selected = definitions.select(args.names)
    builder = _builder(args, definitions, out)
    with client_of(args, definitions) as client:
        roll = Rollout(builder, client, args.timeout, out)
        for function in selected:
            roll(function)
        if args.watch:
            ignore = [builder.build_root]
            loop = WatchLoop(selected, roll, out, ignore=ignore)
            if not loop.folders():
                raise UsageError("--watch: none of these functions has a handler folder")
            loop.run(file_changes(loop.folders(), ignore=ignore))
    return EXIT_OK


class Rollout:
    """Build, push (an image that names a registry), deploy or roll, wait until ready:
    one function, as `faas up` does it and `--watch` repeats it."""

    def __init__(self, builder: Builder, client: GatewayClient, timeout: float, out: TextIO):
        self.builder = builder
        self.client = client
        self.timeout = timeout
        self.out = out
        # The digest-tagged image each function runs since this command deployed it.
        self.running: dict[str, str] = {}

    def __call__(self, function: FunctionDefinition) -> bool:
        """Roll `function`; False when its build is the one already running."""
        body = function.deployment()
        if function.handler is not None:
            plan = self.builder.plan(function)
            if self.running.get(function.name) == plan.digest_image:
                return False
            build = self.builder.build(function, plan)
            if names_registry(build.image):
                self.builder.push([build.image, build.digest_image])
            # A tag per build: every node runs exactly this build, whatever `latest` is there.
            body["image"] = build.digest_image
        updated = deploy_or_update(self.client, body, self.out)
        wait_until_ready(self.client, function.name, self.timeout, self.out, updated=updated)
        self.running[function.name] = str(body["image"])
        return True


def _builder(args: argparse.Namespace, definitions: DefinitionFile, out: TextIO) -> Builder:
    build_args: dict[str, str] = {}
    for pair in args.build_arg:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--build-arg: expected KEY=VALUE, got {pair!r}")
        build_args[key.strip()] = value
    folder = definitions.path.parent
    return Builder(folder, template_root(args.template_dir, folder), build_args, out)


def _buildable(definitions: DefinitionFile, names: list[str]) -> list[FunctionDefinition]:
    """The named functions, or every function with something to build (the others,
    `skip_build` or image only, are deployed as they are)."""
    if names:
        return definitions.select(names)
    return [f for f in definitions.functions.values() if f.handler is not None]
