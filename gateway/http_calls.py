"""The gateway's HTTP/1.1 server protocol: function calls served lean, the rest by uvicorn.

`CallProtocol` is the bounded httptools protocol (`gateway.http_limits`: the same bounds
on heads, headers, time and connections, the same 400/408/431/503 answers) with one
difference: a request the app routes by method and path alone to its function calls
(`Gateway.direct_app`: not `/system/`, not the gateway's own GET pages, not an async
call) is run by a `gateway.http_cycle.CallCycle` on that app directly: no Starlette,
no dispatch, no uvicorn cycle, one write for a small answer, no timer per call
(docs/benchmarks.md has the profile this answers). Every other request (and any request
when the app has no `direct_app`, a WebSocket upgrade, or uvicorn's concurrency limit is
set) goes through uvicorn's own cycle to the whole app, exactly as before. Pipelined
requests of either kind queue in uvicorn's pipeline, in order.

Keep-alive: uvicorn arms a timer after every response and cancels it on the next request.
Here a lean call only notes when it ended; one timer per connection, armed when a call
ends and none is armed, fires `timeout_keep_alive` after the newest end it saw and closes
the connection if it has been idle that long (else it waits for the rest).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.config import HeadLimits
from gateway.http_cycle import CallCycle, DefaultHeaders
from gateway.http_limits import BoundedHttpToolsProtocol


class CallProtocol(BoundedHttpToolsProtocol):
    """The bounded protocol, with function calls on `CallCycle` (module docstring)."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._direct_app = getattr(config.app, "direct_app", None)
        defaults = getattr(server_state, "joined_defaults", None)
        if not isinstance(defaults, DefaultHeaders):
            defaults = DefaultHeaders(server_state)
            server_state.joined_defaults = defaults  # type: ignore[attr-defined]
        self._defaults = defaults
        self._idle_since = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # What uvicorn's does, minus the scope: built in `on_headers_complete`, only as
        # much as the cycle that serves the request needs.
        self._header_count = 0
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_deadline()
        method = self.parser.get_method().decode("ascii")
        parsed_url = httptools.parse_url(self.url)
        raw_path: bytes = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        app = None
        if (
            self._direct_app is not None
            and self.limit_concurrency is None
            and not self.root_path
            and not self.parser.should_upgrade()
        ):
            app = self._direct_app(method, path)
        if app is None:
            self.scope = self._uvicorn_scope()
            super(BoundedHttpToolsProtocol, self).on_headers_complete()
            return
        http_version = self.parser.get_http_version()
        scope = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": http_version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": "",
            "method": method,
            "path": path,
            "raw_path": raw_path,
            "query_string": parsed_url.query or b"",
            "headers": self.headers,
        }
        self.scope = scope  # type: ignore[assignment]
        existing = self.cycle
        cycle = CallCycle(
            scope,
            self.transport,
            self.flow,
            self._defaults,
            access_log=self.access_log,
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self._call_complete,
        )
        self.cycle = cycle  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, app)  # type: ignore[arg-type]
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))  # type: ignore[arg-type]

    def _uvicorn_scope(self) -> Any:
        return {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, CallCycle):
            super().on_body(body)
            return
        if cycle.response_complete:
            return
        cycle.feed(body)
        if len(cycle.body) > _HIGH_WATER:
            self.flow.pause_reading()
        cycle.set()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if isinstance(cycle, CallCycle):
            if not cycle.response_complete:
                cycle.more_body = False
                cycle.set()
            self._reading_head = True
            self._head_bytes = 0
            self._head_started = False
            return
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's cycle answered (a platform request): the connection is idle from now,
        # for the lean timer too (uvicorn arms its own).
        self._idle_since = self.loop.time()
        super().on_response_complete()

    def _call_complete(self) -> None:
        """A lean call's answer is out: start the next pipelined request, or note that the
        connection is idle from now (no timer per call: see the module docstring)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_at(
                self._idle_since + self.timeout_keep_alive, self._idle_check
            )

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        if busy or self._head_started or self.pipeline:
            return  # a call is under way: the next one to end arms the timer again
        due = self._idle_since + self.timeout_keep_alive
        if self.loop.time() >= due:
            self.transport.close()
        else:
            self._idle_timer = self.loop.call_at(due, self._idle_check)


_HIGH_WATER = 65536
"""Request body bytes held before reading from the client pauses (uvicorn's figure)."""


def call_protocol(limits: HeadLimits) -> type[CallProtocol]:
    """The protocol class for uvicorn's `http=` setting, bound to `limits`."""
    return type("CallProtocol", (CallProtocol,), {"limits": limits})
