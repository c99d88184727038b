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


def test_a_function_scaled_to_zero_by_hand_wakes_on_its_next_call(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    """However a function got to zero (here `docker service scale`, no scale labels), its
    next call wakes it and is held until a replica answers, as OpenFaaS users expect."""
    name = make_service("localhost/faas/catservice:latest", "--endpoint-mode", "dnsrr")
    wait_for(
        lambda: client.post(f"/function/{name}", content=b"x").status_code == 200,
        f"{name} to answer",
    )
    docker("service", "scale", "--detach", f"{name}=0")
    wait_for(
        lambda: not docker("service", "ps", name, "-q", "--filter", "desired-state=running"),
        f"{name}'s replicas to stop",
        timeout=60,
    )
    reply = client.post(f"/function/{name}", content=b"woken", timeout=60)
    assert (reply.status_code, reply.text) == (200, "woken")
    assert replicas_of(name) == 1


def test_a_switched_off_function_at_zero_answers_503(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name = make_service(
        "localhost/faas/catservice:latest", "--replicas", "0", "--label", "com.faas.paused=true"
    )
    wait_for(
        lambda: "switched off" in client.post(f"/function/{name}", content=b"x").text,
        f"{name} to answer that it is switched off",
        timeout=60,
    )
    reply = client.post(f"/function/{name}", content=b"x")
    assert reply.status_code == 503
    assert f"function '{name}' has no running replicas: it is switched off" in reply.text
    assert replicas_of(name) == 0


def replicas_of(service: str) -> int:
    """The replicas a service's spec asks for."""
    spec = docker("service", "inspect", service, "--format", "{{.Spec.Mode.Replicated.Replicas}}")
    return int(spec)
