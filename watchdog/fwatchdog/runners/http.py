"""The http runner (``mode=http``): fprocess started once as an HTTP server on
``upstream_url``; requests are proxied to it over pooled keep-alive connections, and it is
restarted when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from urllib.parse import urlsplit

from ..config import Config
from ..connection import Connection
from ..http1.parser import HTTPError, Request, iter_body
from ..http1.writer import duration_header, frame, response_head
from ..logs import log
from ..reaper import Reaper
from ..state import ServerState
from .base import Runner

# Never forwarded either way; "expect" and "content-length" are set by us.
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    )
)


class Upstream:
    """The http-mode upstream: its address, state and pooled keep-alive connections."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.base = parts.path.rstrip("/")
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.up = False

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a new connection."""
        return await asyncio.open_connection(self.host, self.port)

    def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """An idle pooled connection that still looks usable, if any."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not writer.transport.is_closing():
                return reader, writer
            writer.close()
        return None

    def clear(self) -> None:
        """Close every idle connection (the upstream died)."""
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class Exchange:
    """One proxied request: the upstream connection in use and its exec deadline."""

    __slots__ = ("timed_out", "writer")

    def __init__(self) -> None:
        self.timed_out = False
        self.writer: asyncio.StreamWriter | None = None

    def expire(self) -> None:
        """exec_timeout has passed: abort the upstream connection."""
        self.timed_out = True
        if self.writer is not None:
            self.writer.transport.abort()


def _use_pidfd_child_watcher(loop: asyncio.AbstractEventLoop) -> None:
    """Python < 3.12 waits for each child in a new thread; a pidfd watcher is cheaper."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
        watcher = asyncio.PidfdChildWatcher()
        asyncio.set_child_watcher(watcher)
        watcher.attach_loop(loop)
    except (OSError, AttributeError):
        pass


class HttpRunner(Runner):
    """Supervises the upstream fprocess and proxies every request to it."""

    def __init__(self, cfg: Config, state: ServerState, reaper: Reaper) -> None:
        super().__init__(cfg, state, reaper)
        self.upstream = Upstream(cfg.upstream_url)
        self.upstream_proc: asyncio.subprocess.Process | None = None
        self.supervisor: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start the upstream; the state becomes ready once it accepts connections."""
        _use_pidfd_child_watcher(asyncio.get_running_loop())
        self.supervisor = asyncio.ensure_future(self._supervise(self.upstream))

    def abandon(self) -> None:
        """In-flight exchanges end when the server closes their connections."""

    async def stop(self, grace: float) -> None:
        """Stop restarting the upstream, then stop it (SIGTERM, SIGKILL after `grace`)."""
        if self.supervisor is not None:
            self.supervisor.cancel()
            await asyncio.wait([self.supervisor])
        await self._stop_upstream(grace)

    async def handle(self, conn: Connection, req: Request, t0: float) -> bool:
        """Proxy one request to the upstream."""
        return await self._proxy(conn, req, t0, self.upstream)

    async def _supervise(self, upstream: Upstream) -> None:
        """Start the upstream, mark it ready once it accepts, restart it when it dies."""
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            started = loop.time()
            self.reaper.starting = True  # it awaits between the fork and our claim
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.cfg.fprocess, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
                )
            except OSError as exc:
                self.reaper.starting = False
                log(f"cannot start fprocess: {exc}")
            else:
                self.reaper.claim(proc.pid)
                self.reaper.starting = False
                self.upstream_proc = proc
                log(f"started upstream pid {proc.pid}, waiting for {self.cfg.upstream_url}")
                exited = asyncio.ensure_future(proc.wait())
                while not exited.done():
                    try:
                        _, writer = await upstream.connect()
                    except OSError:
                        await asyncio.wait([exited], timeout=0.05)
                        continue
                    writer.close()
                    upstream.up = True
                    self.state.set_ready(True)
                    log("upstream is ready")
                    break
                rc = await exited
                self.reaper.release(proc.pid)
                upstream.up = False
                upstream.clear()
                self.state.set_ready(False)
                log(f"upstream exited with {rc}; restarting it in {backoff:g}s")
            if loop.time() - started > 30:
                backoff = 0.1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _stop_upstream(self, grace: float) -> None:
        proc = self.upstream_proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except asyncio.TimeoutError:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    def _upstream_head(self, req: Request, upstream: Upstream, body: bytes | None) -> bytes:
        query = "?" + req.query if req.query else ""
        lines = [f"{req.method} {upstream.base}{req.path}{query} HTTP/1.1\r\n"]
        drop = set(HOP_BY_HOP)
        for name, value in req.headers:
            if name.lower() == "connection":
                drop.update(t.strip().lower() for t in value.split(","))
        has_host = False
        for name, value in req.headers:
            lower = name.lower()
            if lower not in drop:
                has_host = has_host or lower == "host"
                lines.append(f"{name}: {value}\r\n")
        if not has_host:
            lines.append(f"Host: {upstream.netloc}\r\n")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif req.chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        else:
            lines.append(f"Content-Length: {req.content_length}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _proxy(self, conn: Connection, req: Request, t0: float, upstream: Upstream) -> bool:
        cfg = self.cfg
        if not upstream.up:
            return await conn.answer(req, t0, 503, "upstream is not ready")
        body = await conn.read_body(req)
        head = self._upstream_head(req, upstream, body)
        exchange = Exchange()
        timer = None
        if cfg.exec_timeout:
            timer = conn.loop.call_later(cfg.exec_timeout, exchange.expire)
        try:
            for attempt in (0, 1):
                pooled = upstream.take() if attempt == 0 else None
                try:
                    ureader, uwriter = pooled or await upstream.connect()
                except OSError as exc:
                    text = f"cannot connect to upstream {cfg.upstream_url}: {exc}"
                    return conn.error(req, t0, 502, text, body is not None)
                exchange.writer = uwriter
                try:
                    rhead = await self._send_upstream(conn, req, head, body, ureader, uwriter)
                except HTTPError as exc:  # bad request body from the client
                    uwriter.transport.abort()
                    return conn.error(req, t0, exc.status, exc.message, False)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ValueError,
                ) as exc:
                    uwriter.transport.abort()
                    if conn.timed_out or conn.reader.at_eof():
                        return False  # the client went away
                    if exchange.timed_out:
                        text = f"upstream did not answer within exec_timeout={cfg.exec_timeout:g}s"
                        return conn.error(req, t0, 504, text, body is not None)
                    if pooled is not None and body is not None:
                        continue  # a stale keep-alive connection: retry once on a new one
                    text = f"upstream failed: {exc!r}"
                    return conn.error(req, t0, 502, text, body is not None)
                return await self._relay(conn, req, t0, rhead, ureader, uwriter, exchange)
            raise AssertionError("unreachable")
        finally:
            if timer is not None:
                timer.cancel()

    async def _send_upstream(
        self,
        conn: Connection,
        req: Request,
        head: bytes,
        body: bytes | None,
        ureader: asyncio.StreamReader,
        uwriter: asyncio.StreamWriter,
    ) -> bytes:
        """Send the request upstream and return the response head."""
        if body is not None:
            uwriter.write(head + body)
        else:
            uwriter.write(head)
            async for data in self.request_body(conn, req):
                uwriter.write(frame(data, req.chunked))
                await uwriter.drain()
            if req.chunked:
                uwriter.write(b"0\r\n\r\n")
        while True:
            rhead = await ureader.readuntil(b"\r\n\r\n")
            status = int(rhead[9:12])
            if status >= 200 or status == 101:
                return rhead

    async def _relay(
        self,
        conn: Connection,
        req: Request,
        t0: float,
        rhead: bytes,
        ureader: asyncio.StreamReader,
        uwriter: asyncio.StreamWriter,
        exchange: Exchange,
    ) -> bool:
        """Copy the upstream's response to the client."""
        cfg = self.cfg
        lines = rhead.decode("latin-1").split("\r\n")[:-2]
        status = int(lines[0][9:12])
        fields = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
        drop = set(HOP_BY_HOP)
        reusable = lines[0].startswith("HTTP/1.1")
        length: int | None = None
        chunked = False
        for name, value in fields:
            lower = name.lower()
            if lower == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                drop |= tokens
                reusable = reusable and "close" not in tokens
            elif lower == "content-length" and value.isdigit():
                length = int(value)
            elif lower == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
        if cfg.content_type:
            drop.add("content-type")
        headers = [(n, v) for n, v in fields if n.lower() not in drop]
        if cfg.content_type:
            headers.append(("Content-Type", cfg.content_type))
        headers.append(duration_header(t0))
        no_body = req.method == "HEAD" or status in (204, 304) or status < 200
        if no_body:
            length, chunked = 0, False
        elif chunked:
            length = None
        elif length is None:
            reusable = False  # the body ends when the upstream closes
        keep = conn.keep(req, True)
        started = False
        try:
            if length is not None and length <= cfg.buffer_bytes:
                data = await ureader.readexactly(length) if length else b""
                head = response_head(status, headers, keep, None if no_body else length)
                conn.transport.write(head + data)
            else:
                client_chunked = length is None and req.http11
                keep = keep and (length is not None or client_chunked)
                head = response_head(status, headers, keep, length, client_chunked)
                started = True
                await conn.send(head, cfg.write_timeout)
                async for data in iter_body(ureader, chunked, length):
                    await conn.send(frame(data, client_chunked), cfg.write_timeout)
                if client_chunked:
                    await conn.send(b"0\r\n\r\n", cfg.write_timeout)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            HTTPError,
            ValueError,
        ) as exc:
            uwriter.transport.abort()
            if started or conn.transport.is_closing():
                return False
            if exchange.timed_out:
                text = f"upstream did not answer within exec_timeout={cfg.exec_timeout:g}s"
                return conn.error(req, t0, 504, text, True)
            return conn.error(req, t0, 502, f"upstream failed: {exc!r}", True)
        if reusable and self.upstream.up and not exchange.timed_out:
            self.upstream.idle.append((ureader, uwriter))
        else:
            uwriter.close()
        return keep
