"""The first faas README's quickstart, replayed as written with real curl."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import ROOT, Platform, ServiceFactory, task_hostnames, wait_for


def curl(*args: str) -> bytes:
    """Run real curl; fail on a transport error or an HTTP error status."""
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return result.stdout


def test_function_path_echoes_the_posted_file(platform: Platform) -> None:
    readme = ROOT / "README.md"
    echoed = curl(
        "-X", "POST", "--data-binary", f"@{readme}", f"{platform.gateway_url}/function/catservice"
    )
    assert echoed == readme.read_bytes()


def test_x_function_header_echoes_the_posted_file(platform: Platform) -> None:
    readme = ROOT / "README.md"
    echoed = curl(
        "-X",
        "POST",
        "-H",
        "x-function: catservice",
        "--data-binary",
        f"@{readme}",
        f"{platform.gateway_url}/",
    )
    assert echoed == readme.read_bytes()


def test_random_binary_body_round_trips_byte_exact(platform: Platform, tmp_path: Path) -> None:
    payload = tmp_path / "random.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    echoed = curl(
        "-X", "POST", "--data-binary", f"@{payload}", f"{platform.gateway_url}/function/catservice"
    )
    assert echoed == payload.read_bytes()


def test_alexa_intent_is_routed_to_the_function_named_after_it(platform: Platform) -> None:
    request = ROOT / "sample-functions" / "hostnameintent" / "request.json"
    reply = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        f"@{request}",
        f"{platform.gateway_url}/",
    )
    body = httpx.Response(200, content=reply).json()
    assert body["version"] == "1.0"
    text = body["response"]["outputSpeech"]["text"]
    assert text.startswith("My hostname is ")  # the function read the intent from the body
    # The reply names a container of the stack's hostnameintent service: the gateway sent
    # the HostnameIntent to the function named after it, not anywhere else.
    hostnames = task_hostnames(platform.service_name("hostnameintent"))
    assert text.removeprefix("My hostname is ") in hostnames


def invocations(client: httpx.Client, function_name: str) -> float:
    """Sum of gateway_function_invocation_total for one function, from /metrics."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("gateway_function_invocation_total{") and (
            f'function_name="{function_name}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_service_created_by_hand_as_in_the_first_readme(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    # `docker service create --network functions --name catservice IMAGE`, no labels.
    make_service("localhost/faas/catservice:latest", name="catservice")

    def answered_by_the_plain_service() -> bool:
        reply = client.post("/function/catservice", content=b"by hand")
        return reply.status_code == 200 and invocations(client, "catservice") > 0

    wait_for(answered_by_the_plain_service, "the hand-made catservice to answer")
    echoed = curl(
        "-X",
        "POST",
        "-H",
        "x-function: catservice",
        "--data-binary",
        "hello",
        f"{platform.gateway_url}/",
    )
    assert echoed == b"hello"
