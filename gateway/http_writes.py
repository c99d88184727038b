"""One write per small response: the response head waits for the body's first bytes.

uvicorn's response cycle writes the status line and headers as soon as the app sends
`http.response.start`, and the body with the next message: two writes, two loopback
segments and two wake-ups of the caller for a response that fits in one. On the proxy hop
those writes were the largest single share of the gateway's CPU per call
(docs/benchmarks.md). `HeadHoldingTransport` stands in for the connection's transport in
one cycle: it keeps the head back and sends it together with the first body write, or on
its own at the end of the current event loop pass if the app awaits something first
(a streamed response), so a caller never waits on the head longer than before.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

# Up to this size the head and the body are joined into one buffer (cheaper than a
# vectored write); larger bodies go as two buffers of one `writelines`.
_JOIN_LIMIT = 16 * 1024


class _Cycle(Protocol):
    """What the transport reads of uvicorn's `RequestResponseCycle`."""

    response_started: bool


class HeadHoldingTransport:
    """A response cycle's view of its connection's transport (see the module docstring).

    The first write after the response started is the head: it is held. The next write
    (the body), a `close`, or the end of this loop pass sends it. Everything else is the
    transport's own.
    """

    __slots__ = ("_cycle", "_flush", "_head", "_head_seen", "_loop", "_transport")

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, cycle: _Cycle
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_seen = False
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        """Write `data`, after the held head if there is one; hold the head itself."""
        head = self._head
        if head is not None:
            self._head = None
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(head + data)
            else:
                self._transport.writelines((head, data))
            return
        if not self._head_seen and self._cycle.response_started:
            self._head_seen = True
            self._head = data
            self._flush = self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send the held head now (nothing else came in this loop pass)."""
        self._flush = None
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        """Send the held head, then close the connection."""
        if self._flush is not None:
            self._flush.cancel()
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
