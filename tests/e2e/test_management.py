"""The management API and the `faas` CLI on the real swarm, from a definition file.

build → deploy → invoke → rolling env update under a request loop (no failed request)
→ scale to 3 → list shows 3 → remove → 404; plus 401 without credentials and 403 for an
image off the allow-list.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import (
    PASSWORD_FILE,
    ROOT,
    STACK_NAME,
    Platform,
    credentials,
    docker,
    wait_for,
)

FIXTURES = Path(__file__).parent / "fixtures"


def faas(
    platform: Platform, *args: str, stdin: bytes = b"", check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI as a user would, credentials from the environment."""
    user, _ = credentials()
    env = {
        **os.environ,
        "FAAS_GATEWAY": platform.gateway_url,
        "FAAS_USER": user,
        "FAAS_PASSWORD_FILE": str(PASSWORD_FILE),
    }
    result = subprocess.run([sys.executable, "-m", "faas_cli", *args], input=stdin, env=env,
                            capture_output=True, timeout=600, check=False, cwd=ROOT)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"faas {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
        )
    return result


@pytest.fixture(scope="module", autouse=True)
def management_api(platform: Platform) -> None:
    """Wait for the redeployed gateway: `docker stack deploy` returns before it rolls."""
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=10) as http:
        wait_for(lambda: http.get("/system/info").status_code == 200,
                 "the gateway's management API", timeout=180)  # fmt: skip


@pytest.fixture
def definition(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the fixture definition file, under a fresh function name."""
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    path = tmp_path / "fixtures" / "faas.yml"
    document = yaml.safe_load(path.read_text())
    name = f"e2e-greeter-{uuid.uuid4().hex[:6]}"
    document["functions"] = {name: document["functions"]["greeter"]}
    path.write_text(yaml.safe_dump(document))
    yield path, name
    docker("service", "rm", name, check=False)


def test_function_lifecycle_through_the_cli(
    platform: Platform, client: httpx.Client, api: httpx.Client, definition: tuple[Path, str]
) -> None:
    path, name = definition
    faas(platform, "build", "-f", str(path))
    deployed = faas(platform, "deploy", "-f", str(path), "--wait", "--timeout", "180")
    assert f"deployed {name}" in deployed.stdout.decode()
    spec = json.loads(docker("service", "inspect", name))[0]["Spec"]
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    assert spec["Labels"]["com.faas.managed"] == "true"
    assert spec["UpdateConfig"]["Order"] == "start-first"
    assert "Mounts" not in spec["TaskTemplate"]["ContainerSpec"]
    assert spec["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 64 * 1024 * 1024

    wait_for(lambda: faas(platform, "invoke", name, stdin=b"world", check=False).stdout
             == b"hello, world\n", f"{name} to greet")  # fmt: skip

    # A rolling update of the environment while a loop keeps calling the function.
    document = yaml.safe_load(path.read_text())
    document["functions"][name]["environment"]["GREETING"] = "bonjour"
    del document["functions"][name]["limits"]  # an update replaces the whole definition
    path.write_text(yaml.safe_dump(document))
    failures: list[str] = []
    answers: set[bytes] = set()
    stop = threading.Event()

    def call_in_a_loop() -> None:
        with httpx.Client(base_url=platform.gateway_url, timeout=60) as http:
            while not stop.is_set():
                try:
                    reply = http.post(f"/function/{name}", content=b"world")
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    continue
                if reply.status_code != 200:
                    failures.append(f"{reply.status_code}: {reply.text}")
                else:
                    answers.add(reply.content)

    loop = threading.Thread(target=call_in_a_loop, daemon=True)
    loop.start()
    try:
        # --wait returns only once Swarm says the rolling update has completed.
        updated = faas(platform, "deploy", "-f", str(path), "--wait", "--timeout", "240")
        assert f"updating {name}" in updated.stdout.decode()
        assert f"{name} is updated" in updated.stdout.decode()
        template = "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"
        assert docker("service", "inspect", "-f", template, name).strip() == "completed"
        task_template = json.loads(docker("service", "inspect", name))[0]["Spec"]["TaskTemplate"]
        assert not task_template.get("Resources", {}).get("Limits", {}).get("MemoryBytes")
        wait_for(lambda: b"bonjour, world\n" in answers, "the loop to see the new environment")
    finally:
        stop.set()
        loop.join(timeout=120)
    assert failures == [], f"{len(failures)} failed call(s) during the update: {failures[:5]}"
    assert answers == {b"hello, world\n", b"bonjour, world\n"}

    faas(platform, "scale", name, "3")

    def three_ready() -> bool:
        listed = json.loads(faas(platform, "list", "--json").stdout)
        return any(f["name"] == name and f["availableReplicas"] == 3 for f in listed)

    wait_for(three_ready, f"3 ready replicas of {name}", timeout=180)
    table = faas(platform, "list").stdout.decode().splitlines()
    row = next(line.split() for line in table if line.startswith(name + " "))
    assert row[:4] == [name, "localhost/faas/e2e-greeter:latest", "3", "3"]
    described = json.loads(faas(platform, "describe", name, "--json").stdout)
    assert described["replicas"] == 3
    assert described["invocationCount"] > 0
    logged = faas(platform, "logs", name, "--json", "--since", "1h").stdout.decode()
    started = {json.loads(line)["instance"] for line in logged.splitlines()
               if "fwatchdog: listening" in json.loads(line)["text"]}  # fmt: skip
    assert len(started) >= 3, f"every replica's start-up line, got: {logged}"

    faas(platform, "remove", name)
    wait_for(lambda: client.post(f"/function/{name}").status_code == 404,
             f"{name} to answer 404 once removed", timeout=60)  # fmt: skip
    assert api.get(f"/system/function/{name}").status_code == 404
    gone = faas(platform, "describe", name, check=False)
    assert gone.returncode == 1
    assert b"not found" in gone.stderr


def test_logs_of_a_stack_function(platform: Platform, client: httpx.Client) -> None:
    # Each call is logged with the classic watchdog's lines, as OpenFaaS's docs show them.
    assert client.post("/function/catservice", content=b"logged-call").text == "logged-call"
    recent = faas(platform, "logs", "catservice", "--tail", "20").stdout.decode().splitlines()
    assert any(re.search(r" Wrote 11 Bytes - Duration: \d+\.\d{6}s$", line) for line in recent)
    forking = next(line for line in recent if line.endswith(" Forking fprocess."))
    # `<time> <instance> <text>`, the text as the replica wrote it.
    timestamp, instance, text = forking.split(" ", 2)
    assert timestamp.endswith("Z")
    assert len(instance) == 12
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Forking fprocess\.", text)
    missing = faas(platform, "logs", "no-such-function", check=False)
    assert missing.returncode == 1
    assert b"not found (HTTP 404)" in missing.stderr


SYSTEM_CALLS = [
    ("GET", "/system/functions"), ("POST", "/system/functions"), ("PUT", "/system/functions"),
    ("DELETE", "/system/functions"), ("GET", "/system/function/catservice"),
    ("POST", "/system/scale-function/catservice"), ("GET", "/system/info"),
    ("GET", "/system/openapi.json"), ("GET", "/system/logs?name=catservice"),
]  # fmt: skip


def test_every_system_call_needs_credentials(platform: Platform, client: httpx.Client) -> None:
    for method, path in SYSTEM_CALLS:
        for auth in (None, ("admin", "not-the-password")):
            reply = client.request(method, path, json={"replicas": 0, "functionName": "catservice",
                                                       "service": "x", "image": "localhost/faas/x"},
                                   auth=auth)  # fmt: skip
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.headers["www-authenticate"].startswith("Basic")
    # Invocation stays open, and the functions are untouched.
    assert client.post("/function/catservice", content=b"ok").content == b"ok"


def test_image_off_the_allowlist_is_forbidden(platform: Platform, api: httpx.Client) -> None:
    name = f"e2e-forbidden-{uuid.uuid4().hex[:6]}"
    reply = api.post("/system/functions", json={"service": name, "image": "busybox:latest"})
    assert reply.status_code == 403
    assert "not allowed" in reply.json()["error"]
    assert docker("service", "ls", "-q", "--filter", f"name={name}").strip() == ""


def test_info_and_openapi(api: httpx.Client) -> None:
    info = api.get("/system/info").json()
    assert info["provider"]["orchestration"] == "swarm"
    # The commit the running gateway's image was built from, as OpenFaaS reports it.
    sha = info["version"]["sha"]
    assert info["provider"]["version"]["sha"] == sha
    image = docker("service", "inspect", f"{STACK_NAME}_gateway", "--format",
                   "{{.Spec.TaskTemplate.ContainerSpec.Image}}").strip()  # fmt: skip
    assert f"GATEWAY_BUILD_SHA={sha}" in docker(
        "image", "inspect", image, "--format", "{{.Config.Env}}"
    )
    commit = sha.removesuffix("-dirty")
    assert re.fullmatch("[0-9a-f]{40}", commit), sha
    subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], check=True)
    assert "/system/functions" in api.get("/system/openapi.json").json()["paths"]
    # The stack's own services are not functions: the API cannot touch them.
    reply = api.post("/system/scale-function/func_gateway", json={"replicas": 0})
    assert reply.status_code == 404


READ_YOUR_WRITES_ROUNDS = 100


def test_a_read_right_after_a_write_sees_it(api: httpx.Client) -> None:
    """As OpenFaaS's Go SDK and Terraform-style automation do it: deploy, then read at once
    (each request may reach another gateway worker); scale, then read the count written."""
    misses: list[str] = []
    for round_ in range(READ_YOUR_WRITES_ROUNDS):
        name = f"e2e-ryw-{uuid.uuid4().hex[:6]}"
        body = {"service": name, "image": "localhost/faas/catservice:latest"}
        assert api.post("/system/functions", json=body).status_code == 202
        try:
            described = api.get(f"/system/function/{name}")
            if described.status_code != 200:
                misses.append(f"round {round_}: describe after deploy: {described.status_code}")
            listed = [f["name"] for f in api.get("/system/functions").json()]
            if name not in listed:
                misses.append(f"round {round_}: list after deploy")
            if round_ % 10 == 0:  # the desired count as written, before any replica moves
                scaled = api.post(f"/system/scale-function/{name}", json={"replicas": 0})
                assert scaled.status_code in (200, 202), scaled.text
                replicas = api.get(f"/system/function/{name}").json().get("replicas")
                if replicas != 0:
                    misses.append(f"round {round_}: replicas {replicas} after scaling to 0")
        finally:
            removed = api.request("DELETE", "/system/functions", json={"functionName": name})
            assert removed.status_code == 202, removed.text
        if api.get(f"/system/function/{name}").status_code != 404:
            misses.append(f"round {round_}: describe after remove")
    assert misses == []


# What a record shows but a FunctionDeployment does not take: the function's state.
STATE_FIELDS = ("name", "replicas", "availableReplicas", "invocationCount", "createdAt",
                "updateState")  # fmt: skip
RFC_3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def test_the_function_record_is_what_the_client_sent(api: httpx.Client) -> None:
    """OpenFaaS's `FunctionStatus`, in the list and described, as a client sent it (limits
    as written), with `faas_function`; and a described record goes back whole with PUT."""
    name = f"e2e-record-{uuid.uuid4().hex[:6]}"
    labels = {"team": "e2e", "com.faas.scale.max": "3"}
    sent = {
        "service": name,
        "image": "localhost/faas/catservice:latest",
        "envProcess": "cat",
        "envVars": {"GREETING": "hi"},
        "labels": labels,
        "annotations": {"topic": "records"},
        "limits": {"memory": "20Mi", "cpu": "100m"},
        "requests": {"memory": 8388608, "cpu": 0.05},
    }
    started = time.time()
    assert api.post("/system/functions", json=sent).status_code == 202
    try:
        listed = {f["name"]: f for f in api.get("/system/functions").json()}[name]
        described = api.get(f"/system/function/{name}").json()
        for record in (listed, described):
            assert {key: record[key] for key in (
                "name", "image", "namespace", "envProcess", "envVars", "labels", "annotations",
                "constraints", "secrets", "limits", "requests", "readOnlyRootFilesystem",
                "replicas", "invocationCount",
            )} == {
                "name": name,
                "image": sent["image"],
                "namespace": "openfaas-fn",
                "envProcess": "cat",
                "envVars": {"GREETING": "hi"},
                "labels": {**labels, "com.faas.managed": "true", "faas_function": name},
                "annotations": {"topic": "records"},
                "constraints": [],
                "secrets": [],
                "limits": {"memory": "20Mi", "cpu": "100m"},
                "requests": {"memory": "8388608", "cpu": "0.05"},
                "readOnlyRootFilesystem": False,
                "replicas": 1,
                "invocationCount": 0,
            }  # fmt: skip
            assert record["availableReplicas"] in (0, 1)
            assert RFC_3339.fullmatch(record["createdAt"]), record["createdAt"]
            created = calendar.timegm(time.strptime(record["createdAt"][:19], "%Y-%m-%dT%H:%M:%S"))
            assert started - 60 <= created <= time.time() + 60
        assert "updateState" in described
        assert "updateState" not in listed
        # The engine got the numbers.
        limits = json.loads(docker("service", "inspect", name))[0]["Spec"]["TaskTemplate"][
            "Resources"
        ]["Limits"]
        assert limits == {"NanoCPUs": 100_000_000, "MemoryBytes": 20 * 1024 * 1024}

        # The described record back with PUT, as automation does: nothing refused, nothing
        # stored twice.
        again = {"service": name, **{k: v for k, v in described.items() if k not in STATE_FIELDS}}
        reply = api.put("/system/functions", json=again)
        assert reply.status_code == 202, reply.text
        after = api.get(f"/system/function/{name}").json()
        for key in ("labels", "annotations", "limits", "requests", "envVars", "createdAt"):
            assert after[key] == described[key], key
        labels = json.loads(docker("service", "inspect", name))[0]["Spec"]["Labels"]
        assert "faas_function" not in labels
        assert "warning" not in reply.headers

        # What cannot be honoured is said back, and the function still updates.
        ignored = again | {"network": "my-net", "labels": {"com.openfaas.health.http.path": "/"}}
        reply = api.put("/system/functions", json=ignored)
        assert reply.status_code == 202, reply.text
        assert [w.split(":")[0] for w in reply.json()["warnings"]] == [
            "network 'my-net' is ignored",
            "label 'com.openfaas.health.http.path' is kept but ignored",
        ]
        assert reply.headers["warning"].startswith("299 faas \"network 'my-net' is ignored")
    finally:
        api.request("DELETE", "/system/functions", json={"functionName": name})


def test_the_api_refuses_what_it_cannot_honour_in_its_own_words(api: httpx.Client) -> None:
    """Issue #30: a version cannot make a reserved service name, secrets know the one
    namespace, a log query's `since` is bounded and never answered in the engine's words."""
    queue = {"service": "queue", "image": "localhost/faas/catservice:latest"}
    assert api.post("/system/functions", json=queue).status_code == 202
    try:
        reply = api.post("/system/functions", json=queue | {"version": "worker"})
        assert reply.status_code == 400, reply.text
        assert "'queue-worker', which is reserved" in reply.json()["error"]
        assert "queue-worker" not in docker("service", "ls", "--format", "{{.Name}}").split()
        far = api.get("/system/logs", params={"name": "queue", "since": "9999-12-31T23:59:59Z"})
        assert far.status_code == 400, far.text
        assert far.json()["error"].startswith("since:")
    finally:
        api.request("DELETE", "/system/functions", json={"functionName": "queue"})
    elsewhere = api.get("/system/secrets", params={"namespace": "dev"})
    assert elsewhere.status_code == 404, elsewhere.text
    assert "namespace 'dev' not found" in elsewhere.json()["error"]
