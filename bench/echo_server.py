"""A minimal HTTP/1.1 echo server on raw asyncio: the fast upstream for the benchmarks.

Answers every request with 200 and the request body (Content-Length or chunked bodies),
keep-alive by default. Standalone (stdlib, plus uvloop when importable) so the watchdog can
start it as its `fprocess` in http mode:

    python3 bench/echo_server.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from typing import cast


class EchoProtocol(asyncio.Protocol):
    """One connection: parse requests from a buffer, echo each body back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport and switch Nagle off (small responses must leave at once)."""
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        """Append and answer every complete request in the buffer."""
        self._buf += data
        while self._transport is not None and self._answer_one():
            pass

    def _answer_one(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        request_line = head[0].split(" ")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = _dechunk(buf, start)
            if parsed is None:
                return False
            body, consumed = parsed
        else:
            length = int(headers.get("content-length", "0") or "0")
            if len(buf) - start < length:
                return False
            body, consumed = bytes(buf[start : start + length]), start + length
        del buf[:consumed]
        version = request_line[2] if len(request_line) > 2 else "HTTP/1.0"
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        assert self._transport is not None
        self._transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n%s\r\n%s"
            % (len(body), b"Connection: close\r\n" if close else b"", body)
        )
        if close:
            self._transport.close()
            self._transport = None
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport."""
        self._transport = None


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at `pos`; None until it is complete."""
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, host, port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    """Parse --host/--port and serve (on uvloop when it is installed)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    except ImportError:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
