"""The `faas` CLI against a live gateway with an in-memory provider (no Docker)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas_cli.__main__ import main
from faas_cli.definitions import load_definitions
from faas_cli.errors import UsageError
from faas_cli.output import print_function
from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function, LogLine
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.gateway.providers.memory_provider import MemoryProvider
from tests.support import free_port

PASSWORD = "cli-secret"
DEFINITIONS = """\
gateway: http://127.0.0.1:1
functions:
  hello:
    image: faas/hello:latest
    handler: ./hello
    fprocess: python3 handler.py
    environment: {GREETING: hi, DEBUG: true, RETRIES: 3}
    labels: {team: docs}
    limits: {memory: 64Mi, cpu: "0.5"}
  other:
    image: faas/other:1
"""


@pytest.fixture
def provider(cat_watchdog: BackgroundProcess) -> MemoryProvider:
    return MemoryProvider([Function("cat", "faas/cat:1", 1, "127.0.0.1", cat_watchdog.port)])


@pytest.fixture
def gateway(
    provider: MemoryProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GatewayThread]:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    (tmp_path / "faas.yml").write_text(DEFINITIONS)
    with GatewayThread(
        provider, basic_auth=BasicAuthCredentials("admin", PASSWORD), image_allowlist=("faas/",)
    ) as running:
        monkeypatch.setenv("FAAS_GATEWAY", running.url)
        monkeypatch.setenv("FAAS_PASSWORD_FILE", str(password_file))
        monkeypatch.delenv("FAAS_PASSWORD", raising=False)
        monkeypatch.delenv("FAAS_USER", raising=False)
        monkeypatch.chdir(tmp_path)
        yield running


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_definition_file(tmp_path: Path) -> None:
    path = tmp_path / "faas.yml"
    path.write_text(DEFINITIONS)
    definitions = load_definitions(path)
    assert definitions.gateway == "http://127.0.0.1:1"
    hello = definitions.functions["hello"]
    assert hello.handler == tmp_path / "hello"
    assert hello.deployment() == {
        "service": "hello",
        "image": "faas/hello:latest",
        "envProcess": "python3 handler.py",
        "envVars": {"GREETING": "hi", "DEBUG": "true", "RETRIES": "3"},
        "labels": {"team": "docs"},
        "annotations": {},
        "constraints": [],
        "secrets": [],
        "limits": {"memory": "64Mi", "cpu": "0.5"},
        "readOnlyRootFilesystem": False,
    }
    assert [f.name for f in definitions.select(["other"])] == ["other"]
    with pytest.raises(UsageError, match="no function named 'nope'"):
        definitions.select(["nope"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("functions: [a]", "functions: expected a mapping"),
        ("functions:\n  x: {}", "functions.x.image: required"),
        ("functions:\n  x: {image: a, colour: red}", "functions.x.colour: unknown key"),
        ("functions:\n  x: {image: a, environment: [A=1]}", "functions.x.environment"),
        ("provider: x\nfunctions: {}", "provider: expected a mapping"),
        ("functions: {x: {image: a}\n", "invalid YAML"),
    ],
)
def test_bad_definition_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "faas.yml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_definitions(path)


def test_deploy_prints_what_the_gateway_says_it_ignored(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("faas.yml").write_text(
        DEFINITIONS.replace("labels: {team: docs}", "labels: {com.openfaas.health.http.path: /ok}")
    )
    code, out, err = run(capsys, "deploy", "hello")
    assert code == 0
    assert "deployed hello" in out
    assert "faas: warning: hello: label 'com.openfaas.health.http.path' is kept but ignored" in err


def test_deploy_list_describe_scale_update_remove(
    gateway: GatewayThread, provider: MemoryProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "deploy", "--wait")
    assert code == 0
    assert "deployed hello (faas/hello:latest)" in out
    assert "deployed other" in out
    assert "hello is ready" in out
    assert provider.deployments["hello"].env_vars["GREETING"] == "hi"

    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "READY", "REPLICAS", "INVOCATIONS"]
    assert any(line.split()[:4] == ["hello", "faas/hello:latest", "1", "1"] for line in lines)

    assert run(capsys, "scale", "hello", "3")[0] == 0
    code, out, _ = run(capsys, "list", "--json")
    listed = {item["name"]: item for item in json.loads(out)}
    assert listed["hello"]["replicas"] == 3

    code, out, _ = run(capsys, "describe", "hello")
    assert code == 0
    assert "Replicas:" in out
    assert "team=docs" in out
    code, out, _ = run(capsys, "describe", "hello", "--json")
    assert json.loads(out)["envProcess"] == "python3 handler.py"

    # A second deploy of the same file updates (409 on create, then PUT).
    Path("faas.yml").write_text(DEFINITIONS.replace("GREETING: hi", "GREETING: bonjour"))
    code, out, _ = run(capsys, "deploy", "hello", "--wait")
    assert code == 0
    assert "updating hello" in out
    assert "hello is updated" in out  # only once the rolling update read "completed"
    assert provider.deployments["hello"].env_vars["GREETING"] == "bonjour"
    assert json.loads(run(capsys, "describe", "hello", "--json")[1])["updateState"] == "completed"

    provider.update_outcome = "rollback_completed"
    code, _, err = run(capsys, "deploy", "hello", "--wait")
    assert code == 1
    assert "the rolling update of hello did not complete: rollback completed" in err

    assert run(capsys, "remove", "hello")[0] == 0
    code, _, err = run(capsys, "describe", "hello")
    assert code == 1
    assert "function 'hello' not found (HTTP 404)" in err
    assert run(capsys, "remove", "-f", "faas.yml", "other")[0] == 0
    assert [f.name for f in provider.functions()] == ["cat"]


def test_info(gateway: GatewayThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "orchestration" in out
    assert "memory" in out
    code, out, _ = run(capsys, "info", "--json")
    assert json.loads(out)["provider"]["provider"] == "faas"


def test_helpful_errors_and_exit_codes(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "describe", "nope")
    assert code == 1
    assert "function 'nope' not found" in err

    code, _, err = run(capsys, "deploy", "-f", "missing.yml")
    assert code == 2
    assert "cannot read the definition file 'missing.yml'" in err

    Path("bad.yml").write_text("functions:\n  busy:\n    image: busybox:latest\n")
    code, _, err = run(capsys, "deploy", "-f", "bad.yml")
    assert code == 1
    assert "not allowed" in err
    assert "HTTP 403" in err

    monkeypatch.setenv("FAAS_PASSWORD_FILE", "")
    monkeypatch.setenv("FAAS_PASSWORD", "wrong")
    code, _, err = run(capsys, "list")
    assert code == 4
    assert "refused the credentials" in err

    monkeypatch.delenv("FAAS_PASSWORD")
    code, _, err = run(capsys, "list")
    assert code == 4
    assert "needs credentials: set --password-file or FAAS_PASSWORD_FILE" in err

    monkeypatch.setenv("FAAS_GATEWAY", f"http://127.0.0.1:{free_port()}")
    code, _, err = run(capsys, "list")
    assert code == 3
    assert "cannot reach the gateway" in err


def test_invoke_pipes_stdin_to_stdout(gateway: GatewayThread) -> None:
    faas = [sys.executable, "-m", "faas_cli"]
    reply = subprocess.run([*faas, "invoke", "cat"], input=b"hello\x00bytes",
                           capture_output=True, timeout=60, check=False)  # fmt: skip
    assert (reply.returncode, reply.stdout) == (0, b"hello\x00bytes")
    reply = subprocess.run([*faas, "invoke", "nope"], input=b"x",
                           capture_output=True, timeout=60, check=False)  # fmt: skip
    assert reply.returncode == 1
    assert b"nope answered 404" in reply.stderr
    assert reply.stdout == b""


def test_logs_prints_time_instance_and_text(
    gateway: GatewayThread, provider: MemoryProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    provider.log_lines = [
        LogLine("cat", "task1", "2026-11-25T11:32:01.000000000Z", "fwatchdog: listening"),
        LogLine("cat", "task2", "2026-11-25T11:32:02.000000000Z", "hello"),
    ]
    code, out, _ = run(capsys, "logs", "cat", "--tail", "5", "--since", "10m")
    assert code == 0
    assert out.splitlines() == [
        "2026-11-25T11:32:01.000000000Z task1 fwatchdog: listening",
        "2026-11-25T11:32:02.000000000Z task2 hello",
    ]
    name, since, tail = provider.log_reads[-1]
    assert (name, tail) == ("cat", 5)
    assert since is not None
    code, out, _ = run(capsys, "logs", "cat", "--json")
    assert [json.loads(line)["instance"] for line in out.splitlines()] == ["task1", "task2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logs", "nope"], "function 'nope' not found (HTTP 404)"),
        (["logs", "cat", "--since", "soon"], "--since: expected an age"),
        (["logs", "cat", "--tail", "0"], "--tail: expected"),
    ],
)
def test_logs_errors(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code in (1, 2)
    assert message in err


def test_describe_shows_the_urls_and_a_taken_domain_is_reported_as_such(
    gateway: GatewayThread, provider: MemoryProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("faas.yml").write_text(
        DEFINITIONS.replace("labels: {team: docs}", "labels: {com.faas.domain: hello.example.com}")
        + "  web:\n    image: faas/web:1\n    labels: {com.faas.domain: hello.example.com}\n"
    )
    assert run(capsys, "deploy", "hello")[0] == 0
    code, out, _ = run(capsys, "describe", "hello")
    assert code == 0
    assert f"URL:         {gateway.url}/function/hello\n" in out
    assert "Hosts:       -\n" in out
    assert "Domains:     hello.example.com\n" in out
    code, _, err = run(capsys, "deploy", "web")
    assert code == 1
    assert "custom domain 'hello.example.com' (com.faas.domain) already reaches function " in err
    assert provider.lookup("web") is None


def test_describe_shows_a_job_functions_mode() -> None:
    out = io.StringIO()
    print_function({"name": "heavy", "labels": {"com.faas.mode": "job"}}, out)
    assert "Mode:        job\n" in out.getvalue()
    out = io.StringIO()
    print_function({"name": "light", "labels": {}}, out)
    assert "Mode:        replica\n" in out.getvalue()


def test_describe_shows_a_job_functions_jobs_and_only_a_jobs() -> None:
    job = {"name": "heavy", "labels": {"com.faas.mode": "job"}}
    out = io.StringIO()
    print_function({**job, "jobs": {"running": 2, "queued": 3}}, out)
    assert "Jobs:        running: 2, queued: 3\n" in out.getvalue()
    out = io.StringIO()
    print_function({**job, "jobs": {"running": 0, "queued": None}}, out)  # queue unreadable
    assert "Jobs:        running: 0, queued: unknown\n" in out.getvalue()
    out = io.StringIO()
    print_function({"name": "light", "labels": {}}, out)
    assert "Jobs:" not in out.getvalue()


def test_describe_reads_the_jobs_from_the_gateway(
    capsys: pytest.CaptureFixture[str], gateway: GatewayThread, provider: MemoryProvider
) -> None:
    provider.registry.upsert(
        Function("heavy", "faas/heavy", 0, "tasks.heavy", labels={"com.faas.mode": "job"})
    )
    provider.jobs = {"heavy": 1}
    code, out, _ = run(capsys, "describe", "heavy")
    assert code == 0
    assert "Jobs:        running: 1, queued: unknown\n" in out  # no async calls here
