"""The library internals the gateway subclasses or reads, each checked as it is relied upon.

uvicorn and prometheus-client do not promise these; an upgrade (README, "Dependencies") that
changes one fails here first, naming the gateway module to adapt, rather than as a hang or
a wrong `/metrics` somewhere else.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import docker
import pytest
import uvicorn
from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.samples import Sample
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from gateway.config import HeadLimits
from gateway.http_limits import BoundedHttpToolsProtocol, bounded_http_protocol


def relied_on(holds: bool, what: str, user: str) -> None:
    """Fail naming the internal that changed and the gateway module that relies on it."""
    if not holds:
        pytest.fail(
            f"the installed library changed {what}, which {user} relies on: adapt {user} "
            "(or keep the locked version); README, 'Dependencies'",
            pytrace=False,
        )


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


HTTP_LIMITS = "gateway/http_limits.py (BoundedHttpToolsProtocol)"
WORKERS = "gateway/workers.py"
SHARED_VIEW = "gateway/metrics/shared_view.py (SharedView)"


class _Transport:
    """The asyncio transport calls the httptools protocol makes."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: object) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_the_httptools_protocol_takes_what_the_bounded_one_passes_on() -> None:
    relied_on(
        parameters(HttpToolsProtocol.__init__)
        == ["self", "config", "server_state", "app_state", "_loop"],
        "HttpToolsProtocol.__init__(config, server_state, app_state, _loop)",
        HTTP_LIMITS,
    )
    hooks = {
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "data_received": ["self", "data"],
        "on_message_begin": ["self"],
        "on_header": ["self", "name", "value"],
        "on_headers_complete": ["self"],
        "on_message_complete": ["self"],
        "send_400_response": ["self", "msg"],
    }
    for hook, expected in hooks.items():
        method = getattr(HttpToolsProtocol, hook, None)
        relied_on(
            method is not None and parameters(method) == expected,
            f"HttpToolsProtocol.{hook}({', '.join(expected[1:])})",
            HTTP_LIMITS,
        )


def test_the_httptools_protocol_calls_the_hooks_and_keeps_the_state_read() -> None:
    """One request fed as bytes: the parser calls the protocol's own methods, and the
    attributes the bounded protocol reads (`connections`, `transport`, `cycle`, `loop`) are
    there with the meaning it gives them."""
    called: list[str] = []

    class Spy(HttpToolsProtocol):
        def on_message_begin(self) -> None:
            called.append("on_message_begin")
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            called.append("on_header")
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            called.append("on_headers_complete")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            called.append("on_message_complete")
            super().on_message_complete()

    async def one_request() -> tuple[Spy, _Transport, ServerState]:
        config = Config(_app, lifespan="off", log_config=None)
        config.load()
        state = ServerState()
        protocol = Spy(config, state, {}, asyncio.get_running_loop())
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        relied_on(protocol.cycle is None, "`cycle` is None before a request", HTTP_LIMITS)
        relied_on(
            protocol in protocol.connections and protocol.connections is state.connections,
            "`connections`, the server's set of open connections",
            HTTP_LIMITS,
        )
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\nX-One: 1\r\n\r\n")
        for _ in range(20):
            if protocol.cycle is not None and protocol.cycle.response_complete:
                break
            await asyncio.sleep(0.01)
        protocol.connection_lost(None)
        return protocol, transport, state

    protocol, transport, state = asyncio.run(one_request())
    relied_on(
        called == ["on_message_begin", "on_header", "on_header", "on_headers_complete",
                   "on_message_complete"],
        f"the parser's callbacks into the protocol (called: {called})",
        HTTP_LIMITS,
    )  # fmt: skip
    relied_on(protocol.transport is cast(object, transport), "`transport`", HTTP_LIMITS)
    relied_on(
        protocol.cycle is not None and protocol.cycle.response_complete,
        "`cycle.response_complete` after the response",
        HTTP_LIMITS,
    )
    relied_on(transport.written.startswith(b"HTTP/1.1 204"), "writing to `transport`", HTTP_LIMITS)
    relied_on(not state.connections, "connection_lost leaves `connections`", HTTP_LIMITS)


def test_a_protocol_class_is_uvicorns_http_setting() -> None:
    class Protocol(HttpToolsProtocol):
        pass

    config = Config(_app, http=Protocol, lifespan="off", log_config=None)
    config.load()
    relied_on(
        config.http_protocol_class is Protocol,
        "Config(http=<a protocol class>)",
        f"{WORKERS} (WorkerConfig.load) and gateway/server.py",
    )
    relied_on(
        parameters(Config.load) == ["self"] and hasattr(config, "loaded"),
        "Config.load() and Config.loaded",
        f"{WORKERS} (WorkerConfig)",
    )
    relied_on(callable(getattr(Config, "bind_socket", None)), "Config.bind_socket", WORKERS)


def test_the_server_stops_inside_capture_signals() -> None:
    relied_on(
        parameters(uvicorn.Server.capture_signals) == ["self"]
        and "self.capture_signals()" in inspect.getsource(uvicorn.Server.serve),
        "Server.capture_signals(), the context `serve` runs in and re-raises the signal after",
        f"{WORKERS} (OneProcessServer)",
    )
    server = uvicorn.Server(Config(_app, lifespan="off", log_config=None))
    context = server.capture_signals()
    relied_on(
        hasattr(context, "__enter__") and hasattr(context, "__exit__"),
        "Server.capture_signals() as a context manager",
        f"{WORKERS} (OneProcessServer)",
    )


def test_the_supervisor_replaces_dead_workers_in_keep_subprocess_alive() -> None:
    relied_on(
        parameters(Multiprocess.__init__) == ["self", "config", "sockets"],
        "Multiprocess.__init__(config, sockets)",
        f"{WORKERS} (Supervisor)",
    )
    relied_on(
        parameters(Multiprocess.keep_subprocess_alive) == ["self"]
        and "self.keep_subprocess_alive()" in inspect.getsource(Multiprocess),
        "Multiprocess.keep_subprocess_alive(), called by the supervisor's loop",
        f"{WORKERS} (Supervisor)",
    )
    supervisor = Multiprocess(Config(_app, workers=2, log_config=None), sockets=[])
    relied_on(
        supervisor.processes == [] and isinstance(supervisor.processes, list),
        "Multiprocess.processes, the list of worker processes (each with .pid)",
        f"{WORKERS} (Supervisor)",
    )
    relied_on(
        isinstance(inspect.getattr_static(Process, "pid", None), property),
        "Process.pid",
        f"{WORKERS} (Supervisor)",
    )


def test_the_drain_hooks_are_there() -> None:
    """What `gateway.workers` overrides or sets to drain on SIGTERM (`gateway.drain`)."""
    user = f"{WORKERS} (OneProcessServer, Supervisor: the drain)"
    relied_on(
        parameters(uvicorn.Server.handle_exit) == ["self", "sig", "frame"]
        and "self.handle_exit" in inspect.getsource(uvicorn.Server.capture_signals),
        "Server.handle_exit(sig, frame), the signal handler capture_signals installs",
        user,
    )
    relied_on(
        parameters(uvicorn.Server.on_tick) == ["self", "counter"]
        and "self.should_exit" in inspect.getsource(uvicorn.Server.on_tick),
        "Server.on_tick(counter), which ends the main loop on `should_exit`",
        user,
    )
    relied_on(
        "timeout_graceful_shutdown" in inspect.getsource(uvicorn.Server.shutdown)
        and "connection.shutdown()" in inspect.getsource(uvicorn.Server.shutdown),
        "Server.shutdown: each connection's shutdown(), then `timeout_graceful_shutdown`",
        "gateway/server.py (GATEWAY_DRAIN_TIMEOUT)",
    )
    loop_source = inspect.getsource(Multiprocess.run)
    relied_on(
        all(hasattr(Multiprocess, name) for name in ("handle_term", "handle_int"))
        and "self.terminate_all()" in loop_source
        and "self.should_exit.wait(" in loop_source,
        "Multiprocess.run: handle_term/handle_int, then terminate_all once `should_exit` is set",
        user,
    )
    supervisor = Multiprocess(Config(_app, workers=2, log_config=None), sockets=[])
    relied_on(
        isinstance(supervisor.signal_queue, list) and supervisor.sockets == [],
        "Multiprocess.signal_queue (the handler's queue) and Multiprocess.sockets",
        user,
    )


def test_the_bounded_protocol_closes_idle_connections_and_finishes_calls_on_shutdown() -> None:
    """uvicorn's graceful shutdown, as `BoundedHttpToolsProtocol` inherits it: an idle
    keep-alive connection is closed at once, a call in flight finishes with
    `Connection: close` (docs/scaling.md, "Stopping")."""
    answer = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await answer.wait()
        await _app(scope, receive, send)

    async def shut_down() -> tuple[_Transport, _Transport, bool]:
        config = Config(slow, http=bounded_http_protocol(HeadLimits()), lifespan="off",
                        log_config=None)  # fmt: skip
        config.load()
        state, loop = ServerState(), asyncio.get_running_loop()
        protocols: list[BoundedHttpToolsProtocol] = []
        transports: list[_Transport] = []
        for path in (b"/", b"/slow"):
            protocol = bounded_http_protocol(HeadLimits())(config, state, {}, loop)
            transport = _Transport()
            protocol.connection_made(transport)  # type: ignore[arg-type]
            protocol.data_received(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            protocols.append(protocol)
            transports.append(transport)
        for _ in range(100):  # the first is answered and idle, the second is held
            if protocols[0].cycle is not None and protocols[0].cycle.response_complete:
                break
            await asyncio.sleep(0.01)
        for each in protocols:
            each.shutdown()
        held_open = not transports[1].closed
        answer.set()
        for _ in range(100):
            if transports[1].closed:
                break
            await asyncio.sleep(0.01)
        return transports[0], transports[1], held_open

    idle, busy, held_open = asyncio.run(shut_down())
    relied_on(idle.closed, "shutdown() closes an idle keep-alive connection", HTTP_LIMITS)
    relied_on(held_open, "shutdown() leaves a connection with a call in flight open", HTTP_LIMITS)
    relied_on(
        busy.written.startswith(b"HTTP/1.1 204")
        and b"connection: close" in busy.written.lower()
        and busy.closed,
        "the call in flight answered with `Connection: close`, then closed",
        HTTP_LIMITS,
    )


def test_multiprocess_mode_is_picked_by_the_value_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = "gateway/metrics/registry.py (multiprocess_values, GatewayMetrics)"
    relied_on(hasattr(values, "ValueClass"), "prometheus_client.values.ValueClass", user)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    relied_on(
        getattr(values.get_value_class(), "_multiprocess", False) is True,  # type: ignore[no-untyped-call]
        "get_value_class() and `_multiprocess` on the multiprocess value class",
        user,
    )
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    relied_on(
        getattr(values.get_value_class(), "_multiprocess", False) is False,  # type: ignore[no-untyped-call]
        "`_multiprocess` false on the in-memory value class",
        user,
    )
    relied_on(
        parameters(mark_process_dead) == ["pid", "path"],
        "mark_process_dead(pid, path)",
        f"{WORKERS} (Supervisor)",
    )


def _entries(data: bytes) -> list[tuple[list[Any], float, float]]:
    """Each (key, value, time stamp) of one file, read the way `SharedView._index` does."""
    used = struct.unpack_from("i", data, 0)[0]
    position, found = 8, []
    while position + 4 <= used:
        length = struct.unpack_from("i", data, position)[0]
        key = json.loads(data[position + 4 : position + 4 + length])
        value_at = position + 4 + length + (8 - (length + 4) % 8)
        value, stamp = struct.unpack_from("dd", data, value_at)
        found.append((key, value, stamp))
        position = value_at + 16
    return found


def _counter() -> None:
    Counter("gateway_metric", "help text", ["function_name"], registry=None).labels("hello").inc(
        2.5
    )


def _livesum() -> None:
    gauge = Gauge("gateway_metric", "help text", ["function_name"], registry=None,
                  multiprocess_mode="livesum")  # fmt: skip
    gauge.labels("hello").inc(2.5)


def _mostrecent() -> None:
    gauge = Gauge("gateway_metric", "help text", ["function_name"], registry=None,
                  multiprocess_mode="mostrecent")  # fmt: skip
    gauge.labels("hello").set(2.5)


def _histogram() -> None:
    histogram = Histogram("gateway_metric", "help text", ["function_name"], registry=None,
                          buckets=(1.0,))  # fmt: skip
    histogram.labels("hello").observe(2.5)


@pytest.mark.parametrize(
    ("write", "file_prefix", "sample", "extra_labels", "expected"),
    [
        (_counter, "counter", "gateway_metric_total", {}, 2.5),
        (_livesum, "gauge_livesum", "gateway_metric", {}, 2.5),
        (_mostrecent, "gauge_mostrecent", "gateway_metric", {}, 2.5),
        (_histogram, "histogram", "gateway_metric_sum", {}, 2.5),
        (_histogram, "histogram", "gateway_metric_bucket", {"le": "+Inf"}, 1.0),
    ],
)
def test_the_multiprocess_files_layout(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write: Callable[[], None],
    file_prefix: str,
    sample: str,
    extra_labels: dict[str, str],
    expected: float,
) -> None:
    """One file per kind (and gauge mode) and process: a used-bytes count, then entries of
    a length, a JSON key [metric, sample, labels, help] padded to 8 bytes, a value and a
    time stamp (doubles)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 4242))  # type: ignore[no-untyped-call]
    write()
    path = tmp_path / f"{file_prefix}_4242.db"
    relied_on(path.exists(), f"the file name {file_prefix}_<pid>.db", SHARED_VIEW)
    entries = {key[1]: (key, value, stamp) for key, value, stamp in _entries(path.read_bytes())
               if key[2].get("le") == extra_labels.get("le")}  # fmt: skip
    key, value, stamp = entries.get(sample, ([], math.nan, math.nan))
    labels = {"function_name": "hello", **extra_labels}
    relied_on(
        key == ["gateway_metric", sample, labels, "help text"] and value == expected,
        f"the entry layout of {sample} (read {entries})",
        SHARED_VIEW,
    )
    if file_prefix == "gauge_mostrecent":
        relied_on(stamp > 0, "a mostrecent gauge's time stamp", SHARED_VIEW)


def test_a_histograms_children_are_read_as_observe_does() -> None:
    user = "gateway/metrics/batch.py (observe_all)"
    child = Histogram("internals_seconds", "h", ["code"], buckets=(0.1, 1.0)).labels("200")
    bounds = getattr(child, "_upper_bounds", None)
    relied_on(bounds == [0.1, 1.0, math.inf], "Histogram._upper_bounds (ending with +Inf)", user)
    buckets = getattr(child, "_buckets", None)
    relied_on(
        isinstance(buckets, list)
        and len(buckets) == 3
        and all(callable(getattr(bucket, "inc", None)) for bucket in buckets)
        and callable(getattr(getattr(child, "_sum", None), "inc", None)),
        "Histogram._buckets (one value per bound) and Histogram._sum, each with .inc",
        user,
    )
    child.observe(0.5)
    relied_on(
        [bucket.get() for bucket in child._buckets] == [0.0, 1.0, 0.0] and child._sum.get() == 0.5,
        "observe: one count in the first bucket not below the value (not cumulative)",
        user,
    )


def test_a_sample_is_a_named_tuple_with_labels() -> None:
    sample = Sample("name", {"version": ""}, 1.0)
    relied_on(
        sample._replace(labels={}).labels == {} and sample.name == "name",
        "Sample as a NamedTuple with `labels`",
        "gateway/metrics/registry.py (_without_version)",
    )


def test_the_docker_clients_request_helpers_take_a_timeout_per_request() -> None:
    # The SDK's log streams switch the socket's timeout off; the reader calls these instead.
    user = "gateway/providers/swarm/logs.py (read_log_stream)"
    api: Any = docker.APIClient(base_url="tcp://127.0.0.1:9", version="1.41", timeout=60)
    try:
        relied_on(
            all(
                callable(getattr(api, name, None)) for name in ("_get", "_url", "_raise_for_status")
            ),
            "APIClient._get, _url and _raise_for_status",
            user,
        )
        relied_on(
            api._url("/services/{0}/logs", "a b") == "http://127.0.0.1:9/v1.41/services/a%20b/logs",
            "APIClient._url (the path formatted with quoted arguments, the API version first)",
            user,
        )
        relied_on(
            api._set_request_timeout({"timeout": 2.5}) == {"timeout": 2.5}
            and api._set_request_timeout({}) == {"timeout": 60},
            "APIClient._get keeps a `timeout` it is given (the client's own otherwise)",
            user,
        )
    finally:
        api.close()
