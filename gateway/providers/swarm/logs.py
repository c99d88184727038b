"""A function's log lines, read from the engine with a bound on time and size.

Docker's service logs (the swarm log broker) can send every line and then never end the
stream (docker/cli#4678; seen here after 14,000 lines of a busy function), so a read that
trusts it never returns. The lines of replicas on the engine's own node are therefore read
from their containers (the logging driver's own file: complete, and it always ends); only
replicas on other nodes go through the service's stream. Every read stops after
`LOG_IDLE_SECONDS` of silence, `LOG_READ_SECONDS` in all or `LOG_READ_BYTES`, keeps the
whole lines that came, and says in the gateway's log when it was cut.

The SDK's stream readers switch the socket's timeout off, so the requests are made with
the `APIClient` internals they use (checked in tests/gateway/test_library_internals.py).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import docker
import docker.errors
import requests
import urllib3.exceptions

from gateway.providers.base import LogLine, engine_time
from gateway.providers.swarm.services import mapping

log = logging.getLogger("gateway.swarm")

LOG_IDLE_SECONDS = 10.0
LOG_READ_SECONDS = 40.0
LOG_READ_BYTES = 64 * 1024 * 1024
INSTANCE_LENGTH = 12  # a task id as the docker CLI shows it
_FRAME_HEADER = struct.Struct(">BxxxL")  # stream (stdout 1, stderr 2), payload length


class _RequestHelpers(Protocol):
    """The `APIClient` internals the reader calls (its type stubs leave them out)."""

    def _get(self, url: str, **kwargs: Any) -> requests.Response: ...

    def _url(self, pathfmt: str, *args: str) -> str: ...

    def _raise_for_status(self, response: requests.Response) -> None: ...


@dataclass(frozen=True)
class LogRead:
    """What one read of a log stream brought: whole lines, and why it stopped early
    (empty when the engine ended the stream)."""

    data: bytes
    cut: str = ""


def read_function_logs(
    api: docker.APIClient,
    service: Mapping[str, Any],
    since: str | None,
    tail: int | None,
    node_id: str,
) -> list[LogLine]:
    """The lines of every task of `service` (its attributes as the engine lists them),
    oldest first: `since` (Docker's `seconds.nanoseconds`) and later, at most `tail` per
    replica (None: all). Tasks on node `node_id` are read from their containers."""
    service_id, name = str(service["ID"]), str(mapping(service.get("Spec")).get("Name"))
    template = mapping(mapping(service.get("Spec")).get("TaskTemplate"))
    tty = bool(mapping(template.get("ContainerSpec")).get("TTY"))
    params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1}
    params["tail"] = "all" if tail is None else tail
    if since is not None:
        params["since"] = since
    deadline = time.monotonic() + LOG_READ_SECONDS
    local: dict[str, str] = {}  # task id -> container id
    remote = False
    # types-docker leaves `tasks` unannotated.
    for task in api.tasks(filters={"service": service_id}):  # type: ignore[no-untyped-call]
        container = mapping(mapping(task.get("Status")).get("ContainerStatus")).get("ContainerID")
        if task.get("NodeID") == node_id:
            if container:
                local[str(task["ID"])] = str(container)
        elif task.get("NodeID"):
            remote = True
    lines: list[LogLine] = []
    for task_id, container in local.items():
        try:
            read = read_log_stream(api, "/containers/{0}/logs", container, params, tty, deadline)
        except docker.errors.NotFound:
            continue  # removed since the task list was read: its lines are gone
        _warn_if_cut(read, f"the logs of {name}'s replica {task_id[:INSTANCE_LENGTH]}")
        lines.extend(parse_container_logs(read.data, name, task_id[:INSTANCE_LENGTH]))
    if remote:
        read = read_log_stream(
            api, "/services/{0}/logs", service_id, params | {"details": 1}, tty, deadline
        )
        _warn_if_cut(read, f"the service logs of {name} (replicas on other nodes)")
        own = {task_id[:INSTANCE_LENGTH] for task_id in local}
        lines.extend(
            line for line in parse_engine_logs(read.data, name) if line.instance not in own
        )
    return sorted(lines, key=lambda line: engine_time(line.timestamp) or (0, 0))


def read_log_stream(
    api: docker.APIClient,
    path: str,
    resource: str,
    params: Mapping[str, Any],
    tty: bool,
    deadline: float,
) -> LogRead:
    """One logs endpoint (`path` formatted with `resource`), demultiplexed unless `tty`,
    read until the engine ends it or a bound cuts it (see the module's docstring).
    `docker.errors.APIError` if the engine refuses."""
    # The read timeout applies to every read of the body: silence longer than it ends
    # the read, where the SDK's own stream helpers would wait forever.
    helpers = cast(_RequestHelpers, api)
    url = helpers._url(path, resource)
    response = helpers._get(url, params=dict(params), stream=True, timeout=LOG_IDLE_SECONDS)
    try:
        helpers._raise_for_status(response)
        return _read_body(response.raw, tty, deadline)
    finally:
        response.close()


def _read_body(raw: Any, tty: bool, deadline: float) -> LogRead:
    chunks: list[bytes] = []
    size = 0
    cut = ""
    try:
        while True:
            if time.monotonic() > deadline:
                cut = f"still sending after {LOG_READ_SECONDS:g} s"
                break
            if size > LOG_READ_BYTES:
                cut = f"more than {LOG_READ_BYTES // (1024 * 1024)} MiB"
                break
            if tty:
                data = raw.read(65536)
                if not data:
                    break
            else:
                header = raw.read(_FRAME_HEADER.size)
                if len(header) < _FRAME_HEADER.size:
                    break
                _, length = _FRAME_HEADER.unpack(header)
                data = raw.read(length)
                if len(data) < length:
                    chunks.append(data)
                    break
            chunks.append(data)
            size += len(data)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        cut = f"silent for {LOG_IDLE_SECONDS:g} s"
    except urllib3.exceptions.ProtocolError as error:
        cut = f"the connection broke ({error})"
    data = b"".join(chunks)
    if cut:
        data = data[: data.rfind(b"\n") + 1]  # a line cut in two is not a line
    return LogRead(data, cut)


def _warn_if_cut(read: LogRead, what: str) -> None:
    if read.cut:
        log.warning("%s: the engine's stream was cut (%s); answering with the lines read",
                    what, read.cut)  # fmt: skip


def parse_container_logs(raw: bytes, name: str, instance: str) -> list[LogLine]:
    """Lines of one container's logs read with `timestamps`: `<RFC 3339 time> <text>`."""
    lines = []
    for line in _decoded_lines(raw):
        timestamp, _, text = line.partition(" ")
        lines.append(LogLine(name, instance, timestamp, text))
    return lines


def parse_engine_logs(raw: bytes, name: str) -> list[LogLine]:
    """Lines of Docker's service logs read with `timestamps` and `details` on.

    Each line is `<RFC 3339 time> <k=v,...details> <text>`; the instance is the task id
    from the details (its first 12 characters, as the docker CLI shows ids).
    """
    lines = []
    for line in _decoded_lines(raw):
        timestamp, _, rest = line.partition(" ")
        details, _, text = rest.partition(" ")
        task = ""
        for pair in details.split(","):
            key, _, value = pair.partition("=")
            if key == "com.docker.swarm.task.id":
                task = value[:INSTANCE_LENGTH]
        lines.append(LogLine(name, task, timestamp, text))
    return lines


def _decoded_lines(raw: bytes) -> Iterable[str]:
    # Only "\n" ends a log line: a "\r" (a progress bar) is part of the text.
    for raw_line in raw.split(b"\n"):
        if raw_line:
            yield raw_line.decode("utf-8", errors="replace")
