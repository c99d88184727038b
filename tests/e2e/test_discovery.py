"""Discovery and routing on the real swarm: services appear, spread and disappear."""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import ROOT, ServiceFactory, docker, wait_for

ALEXA_REQUEST = (ROOT / "sample-functions" / "hostnameintent" / "request.json").read_bytes()


def test_unknown_function_is_404_naming_it(client: httpx.Client) -> None:
    reply = client.post("/function/no-such-function", content=b"x")
    assert reply.status_code == 404
    assert "no-such-function" in reply.text


def test_plain_service_becomes_routable_then_404s_once_removed(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name = make_service("localhost/faas/catservice:latest")
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"hi").content == b"hi",
        f"{name} to become routable",
    )
    docker("service", "rm", name)
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"hi").status_code == 404,
        f"{name} to 404 once removed",
        timeout=30,
    )


def test_three_replicas_all_receive_traffic(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name = make_service(
        "localhost/faas/hostnameintent:latest", "--replicas", "3", "--endpoint-mode", "dnsrr"
    )
    seen: set[str] = set()

    def all_replicas_answered() -> bool:
        for _ in range(12):
            reply = client.post(f"/function/{name}", content=ALEXA_REQUEST)
            if reply.status_code == 200:
                seen.add(json.loads(reply.content)["response"]["outputSpeech"]["text"])
        return len(seen) == 3

    wait_for(all_replicas_answered, f"3 distinct replicas of {name} to answer", timeout=120)


def test_function_scaled_to_zero_is_503(client: httpx.Client, make_service: ServiceFactory) -> None:
    name = make_service("localhost/faas/catservice:latest")
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"x").status_code == 200,
        f"{name} to answer",
    )
    docker("service", "scale", "--detach", f"{name}=0")
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"x").status_code == 503,
        f"{name} to answer 503 at zero replicas",
        timeout=60,
    )
    reply = client.post(f"/function/{name}", content=b"x")
    assert name in reply.text
