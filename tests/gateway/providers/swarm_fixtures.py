"""A fake Docker engine for `SwarmProvider` tests, shaped like the docker SDK parts it uses.

Service attrs follow `docker service inspect` on Docker 20.10 (API 1.41), for services made
with `docker service create` and with `docker stack deploy`.
"""

from __future__ import annotations

import copy
import itertools
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import docker.errors
import requests

FUNCTIONS_NETWORK_ID = "6wid6ij1mq0efzderucn66dmp"
OTHER_NETWORK_ID = "q1m3b9kx7yq0ffzderucn6zzz"
ENGINE_URL = "http://fake-engine:2375"

_ids = (f"svc{n:022d}" for n in itertools.count(1))


def service_attrs(
    name: str,
    *,
    networks: tuple[str, ...] = (FUNCTIONS_NETWORK_ID,),
    labels: Mapping[str, str] | None = None,
    image: str = "local/python:3.11-bookworm",
    env: tuple[str, ...] = (),
    mode: Mapping[str, Any] | None = None,
    stack: str | None = None,
) -> dict[str, Any]:
    """A service as the engine shows it; `stack` adds the labels of `docker stack deploy`."""
    service_labels = dict(labels or {})
    aliases: dict[str, Any] = {}
    if stack is not None:
        service_labels = {
            "com.docker.stack.image": image,
            "com.docker.stack.namespace": stack,
            **service_labels,
        }
        aliases = {"Aliases": [name.removeprefix(f"{stack}_")]}
    container_spec: dict[str, Any] = {
        "Image": image,
        "Args": ["sleep", "1000"],
        "Init": False,
        "StopGracePeriod": 10000000000,
        "DNSConfig": {},
        "Isolation": "default",
    }
    if env:
        container_spec["Env"] = list(env)
    return {
        "ID": next(_ids),
        "Version": {"Index": 13},
        "CreatedAt": "2026-11-25T09:21:44.754024676Z",
        "UpdatedAt": "2026-11-25T09:21:44.754024676Z",
        "Spec": {
            "Name": name,
            "Labels": service_labels,
            "TaskTemplate": {
                "ContainerSpec": container_spec,
                "Resources": {"Limits": {}, "Reservations": {}},
                "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
                "Placement": {},
                "Networks": [{"Target": target, **aliases} for target in networks],
                "ForceUpdate": 0,
                "Runtime": "container",
            },
            "Mode": dict(mode) if mode is not None else {"Replicated": {"Replicas": 1}},
            "UpdateConfig": {
                "Parallelism": 1,
                "FailureAction": "pause",
                "Monitor": 5000000000,
                "MaxFailureRatio": 0,
                "Order": "stop-first",
            },
            "EndpointSpec": {"Mode": "dnsrr"},
        },
        "Endpoint": {"Spec": {}},
    }


class FakeEventStream:
    """Like the SDK's CancellableStream: blocks for the next event until closed."""

    def __init__(self) -> None:
        self._events: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        event = self._events.get()
        if event is None:  # the real stream ends quietly when closed or when the engine goes
            raise StopIteration
        return event

    def push(self, event: dict[str, Any]) -> None:
        """Deliver an event to whoever iterates."""
        self._events.put(event)

    def close(self) -> None:
        """End the iteration, as `CancellableStream.close()` does."""
        self.closed = True
        self._events.put(None)


class _Model:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.id = attrs.get("ID") or attrs.get("Id")
        self.name = attrs.get("Name") or attrs.get("Spec", {}).get("Name")
        self.version = attrs.get("Version", {}).get("Index")


class FakeDockerClient:
    """The engine's services, networks and service events, with switches to break it."""

    def __init__(self, networks: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, dict[str, Any]] = {}
        self._networks = dict(
            networks if networks is not None else {"functions": FUNCTIONS_NETWORK_ID}
        )
        self.reachable = True
        self.streams: list[FakeEventStream] = []
        self.list_calls = 0
        self.failed_calls = 0
        self.api_updates: list[tuple[str, int, dict[str, Any]]] = []
        self.service_log_output: dict[str, list[bytes]] = {}
        self.log_calls: list[tuple[str, dict[str, Any]]] = []
        self.services = _Services(self)
        self.networks = _Networks(self)

    # The engine side, driven by tests.

    def create_service(self, attrs: dict[str, Any], *, emit: bool = True) -> str:
        """Add a service; `emit=False` makes the provider miss the event."""
        with self._lock:
            self._services[attrs["ID"]] = attrs
        if emit:
            self._emit("create", attrs)
        return str(attrs["ID"])

    def update_service(self, service_id: str, spec_changes: Mapping[str, Any]) -> None:
        """Merge keys into the service's Spec and emit an update event."""
        with self._lock:
            attrs = self._services[service_id]
            attrs["Spec"] = {**attrs["Spec"], **spec_changes}
        self._emit("update", attrs)

    def remove_service(self, service_id: str, *, emit: bool = True) -> None:
        """Remove a service; `emit=False` makes the provider miss the event."""
        with self._lock:
            attrs = self._services.pop(service_id)
        if emit:
            self._emit("remove", attrs)

    def create_network(self, name: str, network_id: str) -> None:
        """Add a network (networks events are not followed by the provider)."""
        with self._lock:
            self._networks[name] = network_id

    def go_down(self) -> None:
        """Stop answering and end every events stream, like a stopped engine."""
        self.reachable = False
        for stream in self.streams:
            stream.close()

    def come_back(self) -> None:
        """Answer again."""
        self.reachable = True

    def _emit(self, action: str, attrs: Mapping[str, Any]) -> None:
        event = {
            "Type": "service",
            "Action": action,
            "Actor": {"ID": attrs["ID"], "Attributes": {"name": attrs["Spec"]["Name"]}},
            "scope": "swarm",
            "time": 1795598518,
            "timeNano": 1795598518823423173,
        }
        for stream in self.streams:
            if not stream.closed:
                stream.push(copy.deepcopy(event))

    def _check(self) -> None:
        if not self.reachable:
            self.failed_calls += 1
            raise requests.exceptions.ConnectionError(
                "('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))"
            )

    # The SDK side, used by the provider.

    @property
    def api(self) -> _Api:
        """Just enough of `DockerClient.api`: the engine's URL, and service updates."""
        return _Api(self)

    def events(self, *, decode: bool, filters: Mapping[str, Any]) -> FakeEventStream:
        """A new events stream; only decoded service events are supported."""
        assert decode
        assert dict(filters) == {"type": "service"}
        self._check()
        stream = FakeEventStream()
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        """Nothing to release."""


class _Api:
    """`APIClient.update_service`, recorded and applied like a full-spec update."""

    base_url = ENGINE_URL

    def __init__(self, client: FakeDockerClient) -> None:
        self._client = client

    def update_service(self, service_id: str, version: int, **fields: Any) -> None:
        client = self._client
        client._check()
        client.api_updates.append((service_id, version, copy.deepcopy(fields)))
        names = {"task_template": "TaskTemplate", "name": "Name", "labels": "Labels",
                 "mode": "Mode", "update_config": "UpdateConfig",
                 "rollback_config": "RollbackConfig", "networks": "Networks",
                 "endpoint_spec": "EndpointSpec"}  # fmt: skip
        spec = {names[key]: value for key, value in fields.items() if value is not None}
        with client._lock:
            client._services[service_id]["Spec"] = spec
        client._emit("update", client._services[service_id])


    def service_logs(self, service_id: str, **options: Any) -> Iterator[bytes]:
        """The frames set in `service_log_output` for the service; the call is recorded."""
        client = self._client
        client._check()
        client.log_calls.append((service_id, options))
        yield from client.service_log_output.get(service_id, [])


class _Services:
    def __init__(self, client: FakeDockerClient) -> None:
        self._client = client

    def list(self, filters: Mapping[str, str] | None = None) -> list[_Model]:
        client = self._client
        client._check()
        with client._lock:
            client.list_calls += 1
            wanted = (filters or {}).get("name", "")
            return [
                _Model(copy.deepcopy(attrs))
                for attrs in client._services.values()
                if wanted in attrs["Spec"]["Name"]  # like the engine: a substring match
            ]

    def get(self, service_id: str) -> _Model:
        client = self._client
        client._check()
        with client._lock:
            if service_id not in client._services:
                raise docker.errors.NotFound(f"service {service_id} not found")
            return _Model(copy.deepcopy(client._services[service_id]))


class _Networks:
    def __init__(self, client: FakeDockerClient) -> None:
        self._client = client

    def list(self, names: list[str] | None = None) -> list[_Model]:
        client = self._client
        client._check()
        with client._lock:
            # Like the engine, the name filter matches substrings.
            return [
                _Model({"Name": name, "Id": network_id})
                for name, network_id in client._networks.items()
                if not names or any(wanted in name for wanted in names)
            ]
