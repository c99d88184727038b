"""What the commands that talk to a gateway share: the definition file, the client and
its credentials, deploying one function and waiting until it is ready."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from faas_cli.client import DEFAULT_GATEWAY, GatewayClient
from faas_cli.definitions import DEFAULT_FILE, DefinitionFile, load_definitions
from faas_cli.errors import ApiError, CliError, UsageError


def deploy_or_update(client: GatewayClient, body: Mapping[str, Any], out: TextIO) -> bool:
    """Deploy the function of `body`, or roll it when it exists (`PUT`: start-first);
    True when it was an update."""
    name, image = body["service"], body["image"]
    updated = False
    try:
        answer = client.deploy(body)
        out.write(f"deployed {name} ({image})\n")
    except ApiError as error:
        if error.status_code != 409:
            raise
        try:
            answer = client.update(body)
        except ApiError as update_error:
            if update_error.status_code == 404:  # not the name: e.g. a domain taken
                raise error from None
            raise
        updated = True
        out.write(f"updating {name} ({image}): rolling update\n")
    for warning in answer.get("warnings") or ():
        sys.stderr.write(f"faas: warning: {name}: {warning}\n")
    return updated


def definitions_of(args: argparse.Namespace) -> DefinitionFile:
    """The definition file of `-f` (else the default), its ignored keys warned about."""
    definitions = load_definitions(args.file or DEFAULT_FILE)
    if definitions.ignored:
        print(
            f"faas: warning: {definitions.path}: ignored, as faas cannot honour them: "
            + ", ".join(definitions.ignored),
            file=sys.stderr,
        )
    return definitions


def client_of(args: argparse.Namespace, definitions: DefinitionFile | None = None) -> GatewayClient:
    """A client for the gateway the flags, the environment or the definition file name."""
    named = args.gateway or os.environ.get("FAAS_GATEWAY")
    from_file = definitions.gateway if definitions and not named else None
    gateway = named or from_file or DEFAULT_GATEWAY
    user = args.user or os.environ.get("FAAS_USER") or "admin"
    password = _password(args)
    if password and from_file and from_file.rstrip("/") != DEFAULT_GATEWAY:
        # A definition file may come from anyone's repository: it must not be able to
        # send the user's password to a gateway the user never named.
        raise UsageError(
            f"{definitions.path if definitions else ''} names the gateway "
            f"{from_file}: pass --gateway {from_file} (or set FAAS_GATEWAY) to send your "
            "credentials there"
        )
    return GatewayClient(gateway, (user, password) if password else None, timeout=args.timeout)


def _password(args: argparse.Namespace) -> str | None:
    path = args.password_file or os.environ.get("FAAS_PASSWORD_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise UsageError(f"cannot read the password file {path!r}: {error.strerror}") from None
    return os.environ.get("FAAS_PASSWORD") or None


_UPDATE_FAILED = ("paused", "rollback_started", "rollback_paused", "rollback_completed")


def wait_until_ready(
    client: GatewayClient, name: str, timeout: float, out: TextIO, *, updated: bool = False
) -> None:
    """Until `name` has a ready replica and, after an update, the rolling update is done."""
    deadline = time.monotonic() + timeout
    state = ""
    while True:
        try:
            status = client.describe(name)
        except ApiError as error:
            if error.status_code != 404:  # not in the gateway's view yet
                raise
            status = {}
        state = str(status.get("updateState", ""))
        if updated and state in _UPDATE_FAILED:
            raise CliError(
                f"the rolling update of {name} did not complete: {state.replace('_', ' ')} "
                f"(see docker service ps {name})"
            )
        done = not updated or state in ("", "completed")
        if done and status.get("availableReplicas", 0) > 0:
            out.write(f"{name} is {'updated' if updated else 'ready'}\n")
            return
        if time.monotonic() > deadline:
            what = (
                f"its rolling update is still {state or 'pending'}"
                if not done
                else ("it has no ready replica")
            )
            raise CliError(f"{name}: {what} after {timeout:g}s")
        time.sleep(0.5)
