"""The real `faas-cli secret ...` against /system/secrets of an in-process gateway (the
in-memory provider: no Docker). The binary comes from `FAAS_CLI`, else
`../shared/refs/faas-cli` beside the checkout; without either the test is skipped."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import BasicAuthCredentials
from tests import support
from tests.gateway.harness import GatewayThread
from tests.gateway.providers.memory_provider import MemoryProvider


def faas_cli_path() -> str:
    return str(support.faas_cli())


@pytest.fixture
def provider() -> MemoryProvider:
    return MemoryProvider()


@pytest.fixture
def faas_cli(provider: MemoryProvider, tmp_path: Path) -> Iterator[FaasCli]:
    binary = faas_cli_path()
    with GatewayThread(provider, basic_auth=BasicAuthCredentials("admin", "pw")) as gateway:
        cli = FaasCli(binary, gateway.url, tmp_path)
        cli("login", "-u", "admin", "--password-stdin", stdin="pw")
        yield cli


class FaasCli:
    """Runs faas-cli from a folder of its own (no stack.yml), with its own config."""

    def __init__(self, binary: str, gateway_url: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.env = {**os.environ, "OPENFAAS_CONFIG": str(folder), "OPENFAAS_URL": gateway_url}

    def __call__(self, *args: str, stdin: str = "", ok: bool = True) -> str:
        result = subprocess.run(
            [self.binary, *args], input=stdin, env=self.env, cwd=self.folder,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if ok and result.returncode != 0:
            raise AssertionError(f"faas-cli {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout + result.stderr


def test_secret_create_list_update_remove(faas_cli: FaasCli, provider: MemoryProvider) -> None:
    assert "201 Created" in faas_cli("secret", "create", "api-key", "--from-literal", "one")
    (faas_cli.folder / "key.bin").write_bytes(b"\x00\xffbinary")
    faas_cli("secret", "create", "blob", "--from-file", str(faas_cli.folder / "key.bin"))
    assert provider.secrets == {"api-key": b"one", "blob": b"\x00\xffbinary"}
    assert "already exists" in faas_cli("secret", "create", "api-key", "--from-literal", "x")

    listed = faas_cli("secret", "list").split()
    assert listed[listed.index("NAME") + 1 :][:2] == ["api-key", "blob"]

    assert "200 OK" in faas_cli("secret", "update", "api-key", "--from-literal", "two")
    assert provider.secrets["api-key"] == b"two"

    faas_cli("secret", "remove", "api-key")
    assert "Unable to find secret: nope" in faas_cli("secret", "remove", "nope", ok=False)
    assert list(provider.secrets) == ["blob"]


def test_a_namespace_the_gateway_does_not_have(faas_cli: FaasCli, provider: MemoryProvider) -> None:
    # faas-cli shows our words for these two, and its own for a 404 on update and remove.
    said = {
        ("create", "api-key", "--from-literal", "one"): "namespace 'dev' not found",
        ("list",): "namespace 'dev' not found",
        ("update", "api-key", "--from-literal", "two"): "unable to find secret: api-key",
        ("remove", "api-key"): "Unable to find secret: api-key",
    }
    for args, expected in said.items():
        assert expected in faas_cli("secret", *args, "--namespace", "dev", ok=False), args
    assert provider.secrets == {}
    faas_cli("secret", "create", "api-key", "--from-literal", "one", "--namespace", "openfaas-fn")
    assert provider.secrets == {"api-key": b"one"}
    faas_cli("secret", "update", "api-key", "--from-literal", "two", "--namespace", "dev", ok=False)
    faas_cli("secret", "remove", "api-key", "--namespace", "dev", ok=False)
    assert provider.secrets == {"api-key": b"one"}


def listed(faas_cli: FaasCli, *args: str) -> list[str]:
    """The names `faas-cli secret list` shows (after its NAME header)."""
    words = faas_cli("secret", "list", *args).split()
    return words[words.index("NAME") + 1 :] if "NAME" in words else []


def test_secrets_in_a_namespace(faas_cli: FaasCli, provider: MemoryProvider) -> None:
    provider.namespaces = {"dev"}
    faas_cli("secret", "create", "api-key", "--from-literal", "default")
    created = faas_cli("secret", "create", "api-key", "--from-literal", "dev", "-n", "dev")
    assert "201 Created" in created
    faas_cli("secret", "create", "only-dev", "--from-literal", "x", "--namespace", "dev")
    assert provider.secrets == {"api-key": b"default"}
    assert provider.namespaced_secrets["dev"] == {"api-key": b"dev", "only-dev": b"x"}

    assert listed(faas_cli, "-n", "dev") == ["api-key", "only-dev"]
    assert listed(faas_cli) == ["api-key"]
    assert listed(faas_cli, "-n", "openfaas-fn") == ["api-key"]

    assert "200 OK" in faas_cli("secret", "update", "only-dev", "--from-literal", "y", "-n", "dev")
    assert provider.namespaced_secrets["dev"]["only-dev"] == b"y"
    # Not the default namespace's: faas-cli says it cannot find it there.
    said = faas_cli("secret", "update", "only-dev", "--from-literal", "z", ok=False)
    assert "unable to find secret: only-dev" in said

    faas_cli("secret", "remove", "only-dev", "-n", "dev")
    faas_cli("secret", "remove", "api-key", "-n", "dev")
    assert listed(faas_cli, "-n", "dev") == []
    assert listed(faas_cli) == ["api-key"]
    assert provider.namespaced_secrets["dev"] == {}
    assert provider.secrets == {"api-key": b"default"}
