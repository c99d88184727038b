"""The real OpenFaaS faas-cli against a gateway on loopback (no swarm): what it sends is
what the gateway reads. The full round trip on the swarm is tests/e2e/test_faas_cli_compat.py.

The provider is the in-memory fake (deploys into its registry); `catservice` is a real
watchdog running `cat`, so invoke goes through the whole hot path.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import BasicAuthCredentials
from gateway.management.logs import MAX_TAIL
from gateway.providers.base import Function, LogLine
from tests.gateway.harness import GatewayThread, start_watchdog
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import faas_cli

FaasCli = Callable[..., subprocess.CompletedProcess[str]]
LINE = LogLine("func_catservice", "zb8k06w2m3mb", "2026-11-25T11:32:24.070043848Z", "hello log")


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryProvider]:
    with start_watchdog("cat", tmp_path_factory.mktemp("locks")) as watchdog:
        function = Function("func_catservice", "localhost/faas/catservice:latest", 1,
                            "127.0.0.1", watchdog.port, stack="func")  # fmt: skip
        yield MemoryProvider([function])


@pytest.fixture(scope="module")
def gateway(provider: MemoryProvider) -> Iterator[GatewayThread]:
    auth = BasicAuthCredentials("admin", "pw")
    with GatewayThread(provider, basic_auth=auth, autoscale=False) as running:
        yield running


@pytest.fixture(scope="module")
def cli(gateway: GatewayThread, tmp_path_factory: pytest.TempPathFactory) -> FaasCli:
    """Run faas-cli, logged in, from an empty folder (it reads ./stack.yml by default)."""
    binary, folder = faas_cli(), tmp_path_factory.mktemp("faas-cli")
    env = {**os.environ, "OPENFAAS_CONFIG": str(folder / "config"), "OPENFAAS_URL": gateway.url}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], cwd=folder, env=env, input=stdin,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    login = run("login", "--username", "admin", "--password-stdin", stdin="pw")
    assert login.returncode == 0, login.stderr
    return run


def test_invoke_with_and_without_the_namespace(cli: FaasCli) -> None:
    for args in ((), ("--namespace", "openfaas-fn")):
        done = cli("invoke", "catservice", *args, stdin="hello")
        assert (done.returncode, done.stdout) == (0, "hello"), done.stderr
    done = cli("invoke", "catservice", "--namespace", "dev", stdin="hello")
    assert done.returncode != 0
    assert "namespace 'dev' not found" in done.stdout + done.stderr


def test_namespace_list(cli: FaasCli) -> None:
    done = cli("namespace", "list")
    assert done.returncode == 0, done.stderr
    assert "openfaas-fn" in done.stdout


def test_logs_with_faas_cli_s_parameters(cli: FaasCli, provider: MemoryProvider) -> None:
    provider.log_lines = [LINE]
    done = cli("logs", "catservice", "--tail=false", "--since", "10m", "--output", "json")
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert (message["name"], message["namespace"]) == ("func_catservice", "openfaas-fn")
    assert (message["instance"], message["text"]) == ("zb8k06w2m3mb", "hello log")
    assert message["timestamp"].startswith("2026-11-25T11:32:24.07")
    function, since, tail = provider.log_reads[-1]
    assert (function, tail) == ("func_catservice", MAX_TAIL)  # --lines=-1: every line, bounded
    assert since is not None
    done = cli("logs", "catservice", "--tail=false", "--lines", "5", "--namespace", "openfaas-fn")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("hello log")
    assert provider.log_reads[-1][2] == 5


def test_deploy_list_describe_remove(cli: FaasCli, provider: MemoryProvider) -> None:
    done = cli("deploy", "--image", "localhost/faas/catservice:latest", "--name", "cli-flags",
               "--env", "GREETING=hi", "--label", "team=a", "--annotation", "topic=t",
               "--memory-limit", "64Mi")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = provider.deployments["cli-flags"]
    assert deployment.env_vars == {"GREETING": "hi"}
    assert deployment.annotations == {"topic": "t"}
    assert "cli-flags" in cli("list").stdout
    described = cli("describe", "cli-flags")
    assert described.returncode == 0, described.stderr
    assert "localhost/faas/catservice:latest" in described.stdout
    assert cli("remove", "cli-flags").returncode == 0
    assert "cli-flags" not in cli("list").stdout


def test_deploy_an_openfaas_stack_file(
    cli: FaasCli, provider: MemoryProvider, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yml"
    stack.write_text(
        "version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n  cli-stack:\n"
        "    lang: dockerfile\n    image: localhost/faas/catservice:latest\n"
        "    environment: {GREETING: hi}\n    labels: {team: a}\n"
        "    limits: {memory: 64Mi}\n    requests: {cpu: 100m}\n"
    )
    done = cli("deploy", "-f", str(stack))
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = provider.deployments["cli-stack"]
    assert deployment.labels == {"team": "a"}
    assert deployment.limits is not None
    assert deployment.limits.memory == 64 * 1024 * 1024
    assert cli("remove", "cli-stack").returncode == 0
