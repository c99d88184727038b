"""`KnownServices`: an unchanged service keeps its function object across full syncs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.providers.base import Function
from gateway.providers.swarm.known import KnownServices
from gateway.providers.swarm.services import function_from_service

NETWORK_IDS = frozenset({"net1"})


def service(version: int, image: str = "faas/x:1", service_id: str = "s1") -> dict[str, Any]:
    return {
        "ID": service_id,
        "Version": {"Index": version},
        "Spec": {
            "Name": "fn",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {
                "ContainerSpec": {"Image": image},
                "Networks": [{"Target": "net1"}],
            },
        },
    }


class CountingReader:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, attrs: Mapping[str, Any]) -> Function | None:
        self.reads += 1
        return function_from_service(attrs, "functions", NETWORK_IDS)


def test_an_unchanged_service_is_read_once() -> None:
    known, reader = KnownServices(), CountingReader()
    first = known.read(service(5), NETWORK_IDS, reader)
    again = known.read(service(5), NETWORK_IDS, reader)
    assert first is not None
    assert first is again
    assert reader.reads == 1


def test_a_new_version_is_read_anew() -> None:
    known, reader = KnownServices(), CountingReader()
    known.read(service(5), NETWORK_IDS, reader)
    updated = known.read(service(6, image="faas/x:2"), NETWORK_IDS, reader)
    assert updated is not None
    assert updated.image == "faas/x:2"
    assert reader.reads == 2


def test_a_recreated_network_reads_every_service_anew() -> None:
    known, reader = KnownServices(), CountingReader()
    known.read(service(5), NETWORK_IDS, reader)
    known.read(service(5), frozenset({"net2"}), reader)
    assert reader.reads == 2


def test_forgotten_and_removed_services_are_read_anew() -> None:
    known, reader = KnownServices(), CountingReader()
    known.read(service(5), NETWORK_IDS, reader)
    known.forget("s1")
    known.read(service(5), NETWORK_IDS, reader)
    known.keep_only(["another"])
    known.read(service(5), NETWORK_IDS, reader)
    assert reader.reads == 3


def test_a_service_without_a_version_is_always_read() -> None:
    known, reader = KnownServices(), CountingReader()
    attrs = service(5)
    del attrs["Version"]
    known.read(attrs, NETWORK_IDS, reader)
    known.read(attrs, NETWORK_IDS, reader)
    assert reader.reads == 2
