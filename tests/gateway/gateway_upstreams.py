"""Misbehaving upstreams for the gateway tests (healthy replicas are real watchdogs)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType


class FaultyUpstream:
    """A loopback listener that misbehaves on purpose, in a thread of the test process.

    `mode="silent"`: accepts and reads, never answers (timeouts).
    `mode="reset"`: accepts, reads the request, then resets the connection.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        self._socket.close()
        for connection in self._held:
            connection.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            connection.settimeout(5)
            with contextlib.suppress(OSError):
                connection.recv(65536)
            if self.mode == "reset":
                # SO_LINGER 0: close with RST instead of FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            else:
                self._held.append(connection)
