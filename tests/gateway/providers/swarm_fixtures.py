"""A fake Docker engine for `SwarmProvider` tests, behind the installed docker SDK.

Only `APIClient` is faked: `FakeDockerClient` is a real `DockerClient`, so the SDK's own
collections and models forward the provider's keywords, and every `APIClient` call is
checked against the real method's signature (`like_sdk`). A keyword the SDK does not take
fails here as it would against a real engine.

Service attrs follow `docker service inspect` on Docker 20.10 (API 1.41), for services made
with `docker service create` and with `docker stack deploy`.
"""

from __future__ import annotations

import base64
import copy
import functools
import inspect
import io
import itertools
import json
import queue
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import docker
import docker.errors
import requests

FUNCTIONS_NETWORK_ID = "6wid6ij1mq0efzderucn66dmp"
OTHER_NETWORK_ID = "q1m3b9kx7yq0ffzderucn6zzz"
LONG_AGO = "2026-01-01T00:00:00.000000000Z"
"""When the networks an engine starts with were created (`docker network inspect`'s form)."""
ENGINE_URL = "http://fake-engine:2375"
ENGINE_NODE = "hx3kq0v8fnode0engine0self"  # the node of the engine the gateway asks

_ids = (f"svc{n:022d}" for n in itertools.count(1))
_secret_ids = (f"sec{n:022d}" for n in itertools.count(1))
_config_ids = (f"cfg{n:022d}" for n in itertools.count(1))
_network_ids = (f"net{n:022d}" for n in itertools.count(1))


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


def task_attrs(
    service_id: str,
    state: str,
    *,
    address: str | None = None,
    error: str = "",
    task_id: str | None = None,
    network_id: str = FUNCTIONS_NETWORK_ID,
    network_name: str = "functions",
    node_id: str | None = None,
    container_id: str | None = None,
) -> dict[str, Any]:
    """A task as `GET /tasks` shows it on Docker 20.10: `address` on the functions network
    (with its prefix length, as the engine writes it), `error` in `Status.Err`, placed on
    `node_id` in container `container_id` if given."""
    status: dict[str, Any] = {
        "Timestamp": "2026-11-25T09:21:45.123456789Z",
        "State": state,
        "Message": state,
    }
    if error:
        status["Err"] = error
    if container_id is not None:
        status["ContainerStatus"] = {"ContainerID": container_id, "PID": 4242}
    task: dict[str, Any] = {
        "ID": task_id or next(_task_ids),
        "Version": {"Index": 20},
        "ServiceID": service_id,
        "Slot": 1,
        "Status": status,
        "DesiredState": "running",
    }
    if node_id is not None:
        task["NodeID"] = node_id
    if address is not None:
        task["NetworksAttachments"] = [
            {
                "Network": {"ID": OTHER_NETWORK_ID, "Spec": {"Name": "ingress"}},
                "Addresses": ["10.0.0.9/24"],
            },
            {
                "Network": {"ID": network_id, "Spec": {"Name": network_name}},
                "Addresses": [f"{address}/24"],
            },
        ]
    return task


_task_ids = (f"task{n:021d}" for n in itertools.count(1))


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


def engine_error(status: int, message: str) -> docker.errors.APIError:
    """The error the docker SDK raises when the engine answers `status` with `message`."""
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps({"message": message}).encode()
    http_error = requests.exceptions.HTTPError(f"{status} Error from daemon", response=response)
    try:
        docker.errors.create_api_error_from_http_exception(http_error)
    except docker.errors.APIError as error:
        return error
    raise AssertionError("the SDK did not raise for an HTTP error")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def like_sdk(real: Callable[..., Any]) -> Callable[[_Method], _Method]:
    """Check every call of a fake `APIClient` method against the real method's signature.

    An argument the installed docker SDK does not take raises its TypeError, as the real
    client would. The fake then receives the call bound by that signature twice: with the
    defaults filled in (to read it as the SDK would) and as given (to record it).
    """
    signature = inspect.signature(real)

    def decorate(fake: _Method) -> _Method:
        @functools.wraps(fake)
        def checked(self: _Api, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            given = {key: value for key, value in bound.arguments.items() if key != "self"}
            bound.apply_defaults()
            call = {key: value for key, value in bound.arguments.items() if key != "self"}
            return fake(self, call, given)

        return cast(_Method, checked)

    return decorate


class FakeDockerClient(docker.DockerClient):
    """The engine's services, networks, secrets and service events, with switches to break it.

    It is a real `DockerClient` whose `api` is `_Api`, a fake `APIClient`: everything the
    provider calls on `client.services`, `client.networks`, `client.secrets` (and the
    `Service` models they return) runs the installed SDK's own code, which forwards the
    keywords into `ContainerSpec`, `TaskTemplate`, ... and calls `APIClient` methods whose
    arguments `_Api` checks against the real signatures (see `like_sdk`).
    """

    def __init__(self, networks: Mapping[str, str] | None = None) -> None:
        # Not DockerClient.__init__: that would build a real APIClient.
        self._lock = threading.Lock()
        self._services: dict[str, dict[str, Any]] = {}
        self._networks = dict(
            networks if networks is not None else {"functions": FUNCTIONS_NETWORK_ID}
        )
        self._network_labels: dict[str, dict[str, str]] = {}  # by network ID
        self._network_created: dict[str, str] = {}  # by network ID; absent: long ago
        self._attached: dict[str, set[str]] = {}  # container IDs by network ID
        self._secrets: dict[str, dict[str, Any]] = {}  # by ID, as `GET /secrets` lists them
        self._configs: dict[str, dict[str, Any]] = {}  # by ID, as `GET /configs` lists them
        self.secret_data: dict[str, bytes] = {}  # by ID: what a task would read
        self._containers: dict[str, dict[str, Any]] = {}
        self._tasks: list[dict[str, Any]] = []
        self.task_calls: list[dict[str, Any]] = []
        self._refusals: dict[str, list[docker.errors.APIError]] = {}
        self.reachable = True
        self.streams: list[FakeEventStream] = []
        self.list_calls = 0
        self.failed_calls = 0
        self.api_creates: list[dict[str, Any]] = []
        self.api_updates: list[tuple[str, int, dict[str, Any]]] = []
        self.api_removes: list[str] = []
        self.service_log_output: dict[str, list[bytes]] = {}
        self.container_log_output: dict[str, list[bytes]] = {}
        self.log_calls: list[tuple[str, dict[str, Any]]] = []  # (path, query)
        self.api = cast(docker.APIClient, _Api(self))

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

    def service(self, name: str) -> dict[str, Any]:
        """The attrs of the service named `name`, as `docker service inspect` shows them."""
        with self._lock:
            [attrs] = [a for a in self._services.values() if a["Spec"]["Name"] == name]
            return copy.deepcopy(attrs)

    def set_update_status(self, service_id: str, state: str) -> None:
        """Set the service's `UpdateStatus.State`, as a rolling update moves it on."""
        with self._lock:
            attrs = self._services[service_id]
            attrs["UpdateStatus"] = {"State": state, "Message": f"update {state}"}

    def create_network(
        self,
        name: str,
        network_id: str,
        labels: Mapping[str, str] | None = None,
        age: float = 0.0,
    ) -> None:
        """Add a network, created `age` seconds ago (networks events are not followed by
        the provider)."""
        created = datetime.now(UTC) - timedelta(seconds=age)
        with self._lock:
            self._networks[name] = network_id
            self._network_labels[network_id] = dict(labels or {})
            self._network_created[network_id] = created.isoformat().replace("+00:00", "Z")

    def network(self, name: str) -> dict[str, Any]:
        """The network of that name as `docker network inspect` shows it (`KeyError` if
        none): its labels and the containers attached to it."""
        with self._lock:
            network_id = self._networks[name]
            return self._network_attrs(name, network_id)

    def attach(self, container_id: str, network_id: str) -> None:
        """Connect a container of this engine to a network (`docker network connect`)."""
        with self._lock:
            self._attached.setdefault(network_id, set()).add(container_id)

    def create_config(
        self, name: str, labels: Mapping[str, str] | None = None, data: bytes = b"{}"
    ) -> str:
        """Add a config (`docker config create`); returns its ID."""
        config_id = next(_config_ids)
        with self._lock:
            if any(config["Spec"]["Name"] == name for config in self._configs.values()):
                raise engine_error(409, f"rpc error: code = AlreadyExists desc = config {name} "
                                   "already exists")  # fmt: skip
            self._configs[config_id] = {
                "ID": config_id,
                "Version": {"Index": 11},
                "CreatedAt": "2026-11-25T09:21:44.754024676Z",
                "UpdatedAt": "2026-11-25T09:21:44.754024676Z",
                "Spec": {
                    "Name": name,
                    "Labels": dict(labels or {}),
                    "Data": base64.b64encode(data).decode(),
                },
            }
        return config_id

    def config(self, name: str) -> dict[str, Any]:
        """The config of that name, as `docker config inspect` shows it."""
        with self._lock:
            [found] = [c for c in self._configs.values() if c["Spec"]["Name"] == name]
            return copy.deepcopy(found)

    def config_names(self) -> list[str]:
        """The names of every config, sorted."""
        with self._lock:
            return sorted(config["Spec"]["Name"] for config in self._configs.values())

    def network_names(self) -> list[str]:
        """The names of every network, sorted."""
        with self._lock:
            return sorted(self._networks)

    def _network_attrs(self, name: str, network_id: str) -> dict[str, Any]:
        containers = {
            container_id: {"Name": f"c-{container_id[:6]}", "EndpointID": f"ep{container_id}"}
            for container_id in sorted(self._attached.get(network_id, ()))
        }
        return {
            "Name": name,
            "Id": network_id,
            "Scope": "swarm",
            "Driver": "overlay",
            "Attachable": True,
            "Labels": dict(self._network_labels.get(network_id, {})),
            "Containers": containers,
            "Created": self._network_created.get(network_id, LONG_AGO),
        }

    def create_container(self, container_id: str, labels: Mapping[str, str]) -> None:
        """Add a container (`docker container inspect` finds it by id or id prefix);
        a Swarm task's carries `com.docker.swarm.service.id`."""
        with self._lock:
            self._containers[container_id] = {
                "Id": container_id,
                "Config": {"Hostname": container_id[:12], "Labels": dict(labels)},
            }

    def set_tasks(self, tasks: list[dict[str, Any]]) -> None:
        """Replace every task the engine lists (see `task_attrs`)."""
        with self._lock:
            self._tasks = copy.deepcopy(tasks)

    def create_secret(
        self, name: str, labels: Mapping[str, str] | None = None, data: bytes = b"value"
    ) -> str:
        """Add a secret (`docker secret create`); returns its ID."""
        secret_id = next(_secret_ids)
        with self._lock:
            if any(secret["Spec"]["Name"] == name for secret in self._secrets.values()):
                raise engine_error(409, f"rpc error: code = AlreadyExists desc = secret {name} "
                                   "already exists")  # fmt: skip
            self._secrets[secret_id] = {
                "ID": secret_id,
                "Version": {"Index": 11},
                "CreatedAt": "2026-11-25T09:21:44.754024676Z",
                "UpdatedAt": "2026-11-25T09:21:44.754024676Z",
                "Spec": {"Name": name, "Labels": dict(labels or {})},
            }
            self.secret_data[secret_id] = data
        return secret_id

    def secret_names(self) -> list[str]:
        """The Docker names of every secret, sorted."""
        with self._lock:
            return sorted(secret["Spec"]["Name"] for secret in self._secrets.values())

    def secret(self, name: str) -> dict[str, Any]:
        """The secret of that Docker name, as `docker secret inspect` shows it."""
        with self._lock:
            [found] = [s for s in self._secrets.values() if s["Spec"]["Name"] == name]
            return copy.deepcopy(found)

    def refuse(self, method: str, status: int, message: str) -> None:
        """Make the next call of `APIClient.<method>` fail as the engine would with `status`."""
        self._refusals.setdefault(method, []).append(engine_error(status, message))

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

    def _check(self, method: str = "") -> None:
        if not self.reachable:
            self.failed_calls += 1
            raise requests.exceptions.ConnectionError(
                "('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))"
            )
        refusals = self._refusals.get(method)
        if refusals:
            raise refusals.pop(0)

    def _resolve_networks(self, template: dict[str, Any]) -> None:
        """Network names become IDs, as the engine stores them; an unknown one is a 404."""
        for attachment in template.get("Networks") or []:
            target = attachment["Target"]
            if target in self._networks:
                attachment["Target"] = self._networks[target]
            elif target not in self._networks.values():
                raise engine_error(404, f"network {target} not found")

    def _check_secrets(self, template: dict[str, Any]) -> None:
        known = set(self._secrets)
        for secret in template.get("ContainerSpec", {}).get("Secrets") or []:
            if secret["SecretID"] not in known:
                raise engine_error(404, f"secret {secret['SecretID']} not found")


def _wire(value: Any) -> Any:
    """What the engine keeps of a request body: plain JSON, nulls dropped."""

    def without_nulls(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: without_nulls(value) for key, value in item.items() if value is not None}
        if isinstance(item, list):
            return [without_nulls(value) for value in item]
        return item

    return without_nulls(json.loads(json.dumps(value)))


def _mode(sent: Any) -> Any:
    """The engine's JSON decoding ignores case: the SDK's `replicated` is `Replicated`."""
    if not isinstance(sent, dict):
        return sent
    canonical = {"replicated": "Replicated", "global": "Global"}
    return {canonical.get(key, key): value for key, value in sent.items()}


def _merged_template(current: Mapping[str, Any], sent: Mapping[str, Any] | None) -> dict[str, Any]:
    """An update's task template when the SDK fetched the current spec: sent keys win
    (ContainerSpec key by key), keys sent as None keep the current value."""
    merged = copy.deepcopy(dict(current))
    for key, value in (sent or {}).items():
        if key == "ContainerSpec":
            container = merged.setdefault("ContainerSpec", {})
            container.update({k: v for k, v in value.items() if v is not None})
        elif value is not None:
            merged[key] = value
    return merged


# What `GET /services/{id}?insertDefaults=true` fills in where a spec leaves a field out
# (Docker 20.10). Sent back in an update, these count as a new task template for Swarm.
_ENGINE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ContainerSpec": {"StopGracePeriod": 10_000_000_000, "DNSConfig": {}, "Isolation": "default"},
    "TaskTemplate": {
        "Resources": {"Limits": {}, "Reservations": {}},
        "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0},
        "Placement": {},
        "ForceUpdate": 0,
        "Runtime": "container",
    },
    "UpdateConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
}


def _with_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`spec` as the engine shows it when asked to insert defaults."""
    full = copy.deepcopy(dict(spec))
    template = full.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    for target, defaults in (
        (container, _ENGINE_DEFAULTS["ContainerSpec"]),
        (template, _ENGINE_DEFAULTS["TaskTemplate"]),
        (full.setdefault("UpdateConfig", {}), _ENGINE_DEFAULTS["UpdateConfig"]),
    ):
        for key, value in defaults.items():
            target.setdefault(key, copy.deepcopy(value))
    return full


_SPEC_FIELDS = {
    "Name": "name",
    "Labels": "labels",
    "Mode": "mode",
    "UpdateConfig": "update_config",
    "RollbackConfig": "rollback_config",
    "EndpointSpec": "endpoint_spec",
}


_SDK_API: Any = docker.APIClient  # its type stubs leave out the request helpers


def _labelled(own: Mapping[str, str], wanted: str | list[str] | None) -> bool:
    """Whether labels `own` pass the engine's `label` filter (`key` or `key=value`, all)."""
    wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
    for label in wanted:
        key, sep, value = label.partition("=")
        if key not in own or (sep and own[key] != value):
            return False
    return True


def _json_response(status: int, message: str) -> FakeLogResponse:
    """An engine's answer with a JSON body (`{"message": ...}` for an error)."""
    body = json.dumps({"message": message}).encode() if status >= 400 else b""
    return FakeLogResponse(status, body)


class FakeLogResponse:
    """The part of a `requests.Response` the log reader uses: status and raw body."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.raw = io.BytesIO(body)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Api:
    """A fake `APIClient`: each method takes exactly the real one's arguments (`like_sdk`)."""

    base_url = ENGINE_URL

    def __init__(self, client: FakeDockerClient) -> None:
        self._client = client

    @like_sdk(docker.APIClient.events)
    def events(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> FakeEventStream:
        """A new events stream; only decoded service events are supported."""
        assert call["decode"]
        assert dict(call["filters"]) == {"type": "service"}
        self._client._check("events")
        stream = FakeEventStream()
        self._client.streams.append(stream)
        return stream

    @like_sdk(docker.APIClient.networks)
    def networks(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
        client = self._client
        client._check("networks")
        names = call["names"]
        filters = dict(call["filters"] or {})
        assert set(filters) <= {"label"}, filters
        with client._lock:
            # Like the engine, the name filter matches substrings.
            return [
                {**client._network_attrs(name, network_id), "Containers": {}}
                for name, network_id in client._networks.items()
                if (not names or any(wanted in name for wanted in names))
                and _labelled(client._network_labels.get(network_id, {}), filters.get("label"))
            ]

    @like_sdk(docker.APIClient.create_network)
    def create_network(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
        """An overlay network, as `docker network create --driver overlay` makes it."""
        client = self._client
        client._check("create_network")
        assert call["driver"] == "overlay", call
        name = call["name"]
        with client._lock:
            exists = name in client._networks
        if exists and call["check_duplicate"] is not False:
            raise engine_error(409, f"network with name {name} already exists")
        network_id = next(_network_ids)
        client.create_network(name, network_id, call["labels"])
        return {"Id": network_id, "Warning": ""}

    @like_sdk(docker.APIClient.inspect_network)
    def inspect_network(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        """A network by ID, with the containers of this engine attached to it."""
        client = self._client
        client._check("inspect_network")
        with client._lock:
            for name, network_id in client._networks.items():
                if network_id == call["net_id"]:
                    return client._network_attrs(name, network_id)
        raise engine_error(404, f"network {call['net_id']} not found")

    @like_sdk(docker.APIClient.remove_network)
    def remove_network(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        """Remove a network, unless a container is attached to it (as the engine refuses)."""
        client = self._client
        client._check("remove_network")
        network_id = call["net_id"]
        with client._lock:
            names = [name for name, found in client._networks.items() if found == network_id]
            if not names:
                raise engine_error(404, f"network {network_id} not found")
            if client._attached.get(network_id):
                raise engine_error(403, f"error while removing network: network {names[0]} "
                                   f"id {network_id} has active endpoints")  # fmt: skip
            del client._networks[names[0]]
            client._network_labels.pop(network_id, None)

    @like_sdk(docker.APIClient.connect_container_to_network)
    def connect_container_to_network(
        self, call: Mapping[str, Any], given: Mapping[str, Any]
    ) -> None:
        client = self._client
        client._check("connect_container_to_network")
        with client._lock:
            if call["net_id"] not in client._networks.values():
                raise engine_error(404, f"network {call['net_id']} not found")
        client.attach(call["container"], call["net_id"])

    @like_sdk(docker.APIClient.disconnect_container_from_network)
    def disconnect_container_from_network(
        self, call: Mapping[str, Any], given: Mapping[str, Any]
    ) -> None:
        client = self._client
        client._check("disconnect_container_from_network")
        container, network_id = call["container"], call["net_id"]
        with client._lock:
            attached = client._attached.get(network_id, set())
            if container not in attached:
                raise engine_error(403, f"container {container} is not connected to network "
                                   f"{network_id}")  # fmt: skip
            attached.discard(container)

    @like_sdk(docker.APIClient.configs)
    def configs(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The configs matching the `name` (a substring, like the engine) and `label`
        filters."""
        client = self._client
        client._check("configs")
        filters = dict(call["filters"] or {})
        assert set(filters) <= {"name", "label"}, filters
        wanted = filters.get("name", "")
        with client._lock:
            return [
                copy.deepcopy(config)
                for config in client._configs.values()
                if wanted in config["Spec"]["Name"]
                and _labelled(config["Spec"]["Labels"], filters.get("label"))
            ]

    @like_sdk(docker.APIClient.create_config)
    def create_config(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
        client = self._client
        client._check("create_config")
        assert call["templating"] is None
        data = call["data"]
        data = data if isinstance(data, bytes) else str(data).encode()
        if not 0 < len(data) <= 1000 * 1024:
            raise engine_error(400, "rpc error: code = InvalidArgument desc = config data "
                               "must be larger than 0 and less than 1000KB")  # fmt: skip
        return {"ID": client.create_config(call["name"], call["labels"], data)}

    @like_sdk(docker.APIClient.inspect_config)
    def inspect_config(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client
        client._check("inspect_config")
        with client._lock:
            for config in client._configs.values():
                if call["id"] in (config["ID"], config["Spec"]["Name"]):
                    return copy.deepcopy(config)
        raise engine_error(404, f"config {call['id']} not found")

    @like_sdk(docker.APIClient.remove_config)
    def remove_config(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        client = self._client
        client._check("remove_config")
        with client._lock:
            if client._configs.pop(call["id"], None) is None:
                raise engine_error(404, f"config {call['id']} not found")

    @like_sdk(_SDK_API._post_json)
    def _post_json(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> FakeLogResponse:
        """`POST /configs/{id}/update?version=N` only (docker-py has no method for it):
        the labels change if `N` is the config's version and nothing else differs."""
        client = self._client
        try:
            client._check("update_config")
        except docker.errors.APIError as refused:  # an answer to read, as the real one
            return _json_response(int(refused.status_code or 500), str(refused.explanation))
        _, kind, config_id, action = str(call["url"]).split("/")
        assert (kind, action) == ("configs", "update"), call["url"]
        options = dict(call["kwargs"])
        version = options.pop("params")["version"]
        assert not options, options
        spec = _wire(call["data"])
        with client._lock:
            config = client._configs.get(config_id)
            if config is None:
                return _json_response(404, f"config {config_id} not found")
            if version != config["Version"]["Index"]:
                return _json_response(500, "rpc error: code = Unknown desc = update out of "
                                      "sequence")  # fmt: skip
            current = config["Spec"]
            if {k: v for k, v in spec.items() if k != "Labels"} != {
                k: v for k, v in current.items() if k != "Labels"
            }:
                return _json_response(400, "rpc error: code = InvalidArgument desc = only "
                                      "updates to Labels are allowed")  # fmt: skip
            config["Spec"] = {**current, "Labels": dict(spec.get("Labels") or {})}
            config["Version"] = {"Index": version + 1}
        return _json_response(200, "")

    @like_sdk(docker.APIClient.secrets)
    def secrets(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The secrets matching the `name` (a substring, like the engine) and `label`
        (`key` or `key=value`) filters; never their data, like the engine."""
        client = self._client
        client._check("secrets")
        filters = dict(call["filters"] or {})
        assert set(filters) <= {"name", "label"}, filters
        wanted = filters.get("name", "")
        with client._lock:
            return [
                copy.deepcopy(secret)
                for secret in client._secrets.values()
                if wanted in secret["Spec"]["Name"]
                and _labelled(secret["Spec"]["Labels"], filters.get("label"))
            ]

    @like_sdk(docker.APIClient.create_secret)
    def create_secret(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
        """Store the secret as the SDK sends it (its data base64-encoded by the SDK's own
        code in the real client: here the bytes as given)."""
        client = self._client
        client._check("create_secret")
        assert call["driver"] is None
        data = call["data"]
        data = data if isinstance(data, bytes) else str(data).encode()
        # Round-trip through base64 as the wire does, so only bytes get through.
        data = base64.b64decode(base64.b64encode(data))
        if len(call["name"]) > 64:  # swarmkit's validateConfigOrSecretAnnotations
            raise engine_error(400, "rpc error: code = InvalidArgument desc = invalid name, only "
                               "64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
                               "character must be [a-zA-Z0-9]")  # fmt: skip
        if not 0 < len(data) <= 500 * 1024:
            raise engine_error(400, "rpc error: code = InvalidArgument desc = secret data "
                               "must be larger than 0 and less than 500KB")  # fmt: skip
        return {"ID": client.create_secret(call["name"], call["labels"], data)}

    @like_sdk(docker.APIClient.remove_secret)
    def remove_secret(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        """Remove a secret, unless a service's spec mounts it (as the engine refuses)."""
        client = self._client
        client._check("remove_secret")
        secret_id = call["id"]
        with client._lock:
            if secret_id not in client._secrets:
                raise engine_error(404, f"secret {secret_id} not found")
            name = client._secrets[secret_id]["Spec"]["Name"]
            users = [
                attrs["Spec"]["Name"]
                for attrs in client._services.values()
                if any(ref["SecretID"] == secret_id for ref in
                       attrs["Spec"]["TaskTemplate"].get("ContainerSpec", {}).get("Secrets") or [])
            ]  # fmt: skip
            if users:
                message = f"secret '{name}' is in use by the following service: {users[0]}"
                raise engine_error(400, f"rpc error: code = InvalidArgument desc = {message}")
            del client._secrets[secret_id]
            del client.secret_data[secret_id]

    @like_sdk(docker.APIClient.inspect_secret)
    def inspect_secret(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client
        client._check("inspect_secret")
        with client._lock:
            if call["id"] not in client._secrets:
                raise engine_error(404, f"secret {call['id']} not found")
            return copy.deepcopy(client._secrets[call["id"]])

    @like_sdk(docker.APIClient.services)
    def services(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
        client = self._client
        client._check("services")
        wanted = (call["filters"] or {}).get("name", "")
        with client._lock:
            client.list_calls += 1
            return [
                copy.deepcopy(attrs)
                for attrs in client._services.values()
                if wanted in attrs["Spec"]["Name"]  # like the engine: a substring match
            ]

    @like_sdk(docker.APIClient.inspect_container)
    def inspect_container(
        self, call: Mapping[str, Any], given: Mapping[str, Any]
    ) -> dict[str, Any]:
        client = self._client
        client._check("inspect_container")
        wanted = str(call["container"])
        with client._lock:
            for container_id, attrs in client._containers.items():
                if container_id.startswith(wanted):
                    return copy.deepcopy(attrs)
        raise docker.errors.NotFound(f"No such container: {wanted}")

    @like_sdk(docker.APIClient.inspect_service)
    def inspect_service(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client
        client._check("inspect_service")
        service_id = call["service"]
        if isinstance(service_id, Mapping):  # what create_service returned
            service_id = service_id["ID"]
        with client._lock:
            if service_id not in client._services:
                raise docker.errors.NotFound(f"service {service_id} not found")
            attrs = copy.deepcopy(client._services[service_id])
        if call["insert_defaults"]:
            attrs["Spec"] = _with_defaults(attrs["Spec"])
        return attrs

    @like_sdk(docker.APIClient.create_service)
    def create_service(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
        """Store the service as the engine would: names resolved, defaults as sent."""
        client = self._client
        client._check("create_service")
        client.api_creates.append(copy.deepcopy(dict(given)))
        template = _wire(call["task_template"])
        client._resolve_networks(template)
        client._check_secrets(template)
        spec = {key: _wire(call[field]) for key, field in _SPEC_FIELDS.items()}
        spec["Mode"] = _mode(spec["Mode"])
        spec["TaskTemplate"] = template
        spec = {key: value for key, value in spec.items() if value is not None}
        with client._lock:
            if any(a["Spec"]["Name"] == spec["Name"] for a in client._services.values()):
                raise engine_error(409, "rpc error: code = AlreadyExists desc = name conflicts")
        attrs = {**service_attrs(spec["Name"]), "Spec": spec}
        client.create_service(attrs)
        return {"ID": attrs["ID"]}

    @like_sdk(docker.APIClient.update_service)
    def update_service(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the spec with what was sent; with `fetch_current_spec`, what was not
        sent stays as it was (the SDK fills it in from the current spec)."""
        client = self._client
        client._check("update_service")
        service_id, version = call["service"], call["version"]
        fields = {key: value for key, value in given.items() if key not in ("service", "version")}
        client.api_updates.append((service_id, version, copy.deepcopy(fields)))
        with client._lock:
            attrs = client._services[service_id]
            if version != attrs["Version"]["Index"]:
                raise engine_error(500, "rpc error: code = Unknown desc = update out of sequence")
            # The SDK fetches the current spec with defaults inserted.
            current = _with_defaults(attrs["Spec"]) if call["fetch_current_spec"] else {}
        spec = {key: _wire(call[field]) for key, field in _SPEC_FIELDS.items()}
        spec = {key: current.get(key) if value is None else value for key, value in spec.items()}
        spec["Mode"] = _mode(spec["Mode"])
        template = _merged_template(current.get("TaskTemplate", {}), _wire(call["task_template"]))
        if call["networks"] is not None:
            template["Networks"] = [
                {"Target": n} if isinstance(n, str) else _wire(n) for n in call["networks"]
            ]
        client._resolve_networks(template)
        client._check_secrets(template)
        spec["TaskTemplate"] = template
        attrs = {
            **attrs,
            "Spec": {key: value for key, value in spec.items() if value is not None},
            "Version": {"Index": version + 1},
        }
        with client._lock:
            client._services[service_id] = attrs
        client._emit("update", attrs)
        return {}

    @like_sdk(docker.APIClient.remove_service)
    def remove_service(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
        client = self._client
        client._check("remove_service")
        service_id = call["service"]
        client.api_removes.append(service_id)
        if service_id not in client._services:
            raise engine_error(404, f"service {service_id} not found")
        client.remove_service(service_id)
        return True

    @like_sdk(docker.APIClient.tasks)
    def tasks(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The tasks set by `set_tasks` that match the `service` and `desired-state` filters."""
        client = self._client
        client._check("tasks")
        filters = dict(call["filters"] or {})
        client.task_calls.append(filters)
        assert set(filters) <= {"service", "desired-state"}, filters
        with client._lock:
            return [
                copy.deepcopy(task)
                for task in client._tasks
                if filters.get("service", task["ServiceID"]) == task["ServiceID"]
                and filters.get("desired-state", task["DesiredState"]) == task["DesiredState"]
            ]

    @like_sdk(docker.APIClient.info)
    def info(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        """What `GET /info` says of the swarm: the engine's node is `ENGINE_NODE`."""
        self._client._check("info")
        return {"Swarm": {"NodeID": ENGINE_NODE, "LocalNodeState": "active"}}

    @like_sdk(_SDK_API._url)
    def _url(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> str:
        return str(call["pathfmt"]).format(*call["args"])

    @like_sdk(_SDK_API._get)
    def _get(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> FakeLogResponse:
        """The logs endpoints only: the lines set in `service_log_output` (by service id)
        or `container_log_output` (by container id; a 404 for any other), framed as the
        engine sends them; the call is recorded in `log_calls` as (path, query)."""
        client = self._client
        [url], options = call["args"], dict(call["kwargs"])
        assert options.pop("stream") is True
        assert options.pop("timeout") > 0
        _, kind, resource, endpoint = url.split("/")
        assert endpoint == "logs", url
        assert kind in ("services", "containers"), url
        client._check(f"{kind[:-1]}_logs")
        client.log_calls.append((url, dict(options.pop("params"))))
        assert not options, options
        if kind == "containers" and resource not in client.container_log_output:
            return FakeLogResponse(404, b"")  # a container removed since its task was listed
        output = client.service_log_output if kind == "services" else client.container_log_output
        lines = output.get(resource, [])
        frames = b"".join(struct.pack(">BxxxL", 1, len(line)) + line for line in lines)
        return FakeLogResponse(200, frames)

    @like_sdk(_SDK_API._raise_for_status)
    def _raise_for_status(self, call: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        response = call["response"]
        body = response.raw.getvalue()
        if response.status_code == 404 and not body:
            raise docker.errors.NotFound("no such container")
        if response.status_code >= 400:
            raise engine_error(response.status_code, json.loads(body)["message"])

    def close(self) -> None:
        """Nothing to release."""
