"""Send one large body and read the echoed response at the same time, on a raw socket.

A cat function echoes as it reads, so the client must read while it writes or both sides
stall on full socket buffers; http.client cannot do that, a sending thread can.

Also a command line, so the swarm variant can run it inside a container's network
namespace (`nsenter --target <pid> --net -- python -m bench.large ...`); it prints the
result as one JSON object:

    python -m bench.large --host 10.0.2.7 --port 8080 --path / --size 104857600
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

CHUNK = 1 << 20


@dataclass(frozen=True)
class TransferResult:
    """One large request: status, bytes sent and received, wall time."""

    status: int
    sent: int
    received: int
    elapsed_s: float

    @property
    def mb_per_s(self) -> float:
        """Request body megabytes (10^6) per second, end to end."""
        return self.sent / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0


def post_large(
    host: str, port: int, path: str, size: int, timeout: float = 120.0
) -> TransferResult:
    """POST `size` bytes to `path` with a Content-Length; count the response body bytes."""
    chunk = b"x" * CHUNK
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = 0
    send_error: list[BaseException] = []

    def send() -> None:
        nonlocal sent
        try:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            view = memoryview(chunk)
            while sent < size:
                n = min(CHUNK, size - sent)
                sock.sendall(view[:n])
                sent += n
        except OSError as err:  # the server may answer early (e.g. 413) and close
            send_error.append(err)

    start = time.perf_counter()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        status, received = _read_response(sock)
    finally:
        sender.join(timeout)
        sock.close()
    elapsed = time.perf_counter() - start
    return TransferResult(status, sent, received, elapsed)


def _read_response(sock: socket.socket) -> tuple[int, int]:
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before the response headers")
        buf += data
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    del buf[: end + 4]
    if "chunked" in headers.get("transfer-encoding", ""):
        return status, _read_chunked(sock, buf)
    received = len(buf)
    length = int(headers["content-length"]) if "content-length" in headers else None
    while length is None or received < length:
        data = sock.recv(CHUNK)
        if not data:
            break
        received += len(data)
    return status, received


def _read_chunked(sock: socket.socket, buf: bytearray) -> int:
    received = 0
    while True:
        while b"\r\n" not in buf:
            data = sock.recv(CHUNK)
            if not data:
                return received
            buf += data
        eol = buf.index(b"\r\n")
        size = int(bytes(buf[:eol]).split(b";")[0].strip() or b"0", 16)
        del buf[: eol + 2]
        if size == 0:
            return received
        need = size + 2  # the data and its CRLF
        while need > 0:
            if not buf:
                data = sock.recv(CHUNK)
                if not data:
                    return received
                buf += data
            take = min(need, len(buf))
            del buf[:take]
            need -= take
        received += size


def pipe_through_cat(size: int) -> TransferResult:
    """The floor for streaming: `size` bytes through one `cat` process over pipes."""
    chunk = b"x" * CHUNK
    start = time.perf_counter()
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        sent = 0
        while sent < size:
            n = min(CHUNK, size - sent)
            stdin.write(chunk[:n])
            sent += n
        stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    received = 0
    while data := os.read(stdout.fileno(), CHUNK):
        received += len(data)
    feeder.join(60)
    proc.wait(timeout=60)
    return TransferResult(200, size, received, time.perf_counter() - start)


def result_to_json(result: TransferResult) -> str:
    """One transfer as a JSON object (what the command line prints)."""
    return json.dumps(dataclasses.asdict(result))


def result_from_json(text: str) -> TransferResult:
    """The inverse of `result_to_json`."""
    data = json.loads(text)
    return TransferResult(
        status=int(data["status"]),
        sent=int(data["sent"]),
        received=int(data["received"]),
        elapsed_s=float(data["elapsed_s"]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.large`: one `post_large`, its result as JSON on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.large",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--path", default="/")
    parser.add_argument("--size", type=int, default=100 * 1024 * 1024, help="body bytes")
    parser.add_argument("--timeout", type=float, default=120.0, help="socket timeout (s)")
    args = parser.parse_args(argv)
    result = post_large(args.host, args.port, args.path, args.size, timeout=args.timeout)
    print(result_to_json(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
