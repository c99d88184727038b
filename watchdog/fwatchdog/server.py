"""The server: the listening socket, the request loop per connection, the limits checked
before a request reaches the runner, and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import time
import traceback

from .cgroup import CPU_PATH, cpu_report
from .config import HEALTH_PATH, Config
from .connection import Connection, CountingReader
from .http1.parser import HTTPError, Request, parse_head
from .http1.writer import duration_header, simple_response
from .leftovers import Leftovers
from .logs import log
from .reaper import Reaper
from .runners import create_runner
from .state import ServerState


class Watchdog:
    """The HTTP server in front of one runner (the mode)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.state = ServerState(cfg)
        self.reaper = Reaper()
        self.leftovers = Leftovers(self.reaper, server_mode=cfg.mode == "http")
        self.runner = create_runner(cfg, self.state, self.reaper)
        self.inflight = 0
        self.idle_event: asyncio.Event | None = None
        self.conns: dict[Connection, asyncio.Task[None]] = {}

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT, drain, and return the exit status."""
        loop = asyncio.get_running_loop()
        self.idle_event = asyncio.Event()

        def protocol() -> asyncio.StreamReaderProtocol:
            reader = CountingReader(self.cfg.max_header_bytes)
            return asyncio.StreamReaderProtocol(reader, self._serve)

        server = await loop.create_server(
            protocol, "0.0.0.0", self.cfg.port, reuse_address=True, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.reaper.start(loop)
        await self.runner.start()
        log(
            f"listening on port {self.cfg.port}, mode={self.cfg.mode}, "
            f"fprocess={' '.join(shlex.quote(a) for a in self.cfg.fprocess)}"
        )
        await stop.wait()

        grace = self.cfg.shutdown_timeout
        log(f"draining: waiting up to {grace:g}s for {self.inflight} request(s)")
        self.state.draining = True
        self.state.set_ready(False)
        server.close()
        deadline = loop.time() + self.cfg.shutdown_timeout
        if self.inflight:
            self.idle_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle_event.wait(), self.cfg.shutdown_timeout)
        self.runner.abandon()
        for conn in list(self.conns):
            conn.transport.close()  # flushes what was written, then closes
        tasks = list(self.conns.values())
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.5, deadline - loop.time()))
        for conn in list(self.conns):
            conn.transport.abort()
        await self.runner.stop(max(1.0, deadline - loop.time()))
        self.leftovers.sweep(everything=True)
        log("stopped")
        return 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert isinstance(reader, CountingReader)
        conn = Connection(reader, writer, self.cfg, self.state)
        task = asyncio.current_task()
        assert task is not None
        self.conns[conn] = task
        try:
            while not self.state.draining or reader.fed > conn.mark:
                conn.arm(self.cfg.read_timeout, idle=True)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    body = b"request header fields too large\n"
                    writer.write(simple_response(431, body, (), False))
                    break
                finally:
                    conn.disarm()
                t0 = time.monotonic()
                try:
                    req = parse_head(head)
                except HTTPError as exc:
                    body = exc.message.encode() + b"\n"
                    writer.write(simple_response(exc.status, body, [duration_header(t0)], False))
                    break
                if not await self._dispatch(conn, req, t0):
                    break
                conn.mark = reader.fed
            await conn.linger()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        except Exception as exc:  # a bug: log it and drop this connection only
            log(f"internal error: {exc!r}")
            traceback.print_exc()
        finally:
            conn.disarm()
            del self.conns[conn]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(self, conn: Connection, req: Request, t0: float) -> bool:
        """Handle one request; return whether the connection stays open."""
        cfg = self.cfg
        if req.path == HEALTH_PATH:
            if self.state.ready:
                return await conn.answer(req, t0, 200, "OK")
            reason = "draining" if self.state.draining else "upstream is not ready"
            return await conn.answer(req, t0, 503, reason)
        if req.path == CPU_PATH:  # the gateway's `cpu` scaling
            report = cpu_report()
            return await conn.answer(req, t0, 200 if report else 404, report or "no cgroup")
        if cfg.max_inflight and self.inflight >= cfg.max_inflight:
            text = f"too many requests in flight (max_inflight={cfg.max_inflight})"
            return await conn.answer(req, t0, 429, text)
        limit = cfg.max_request_bytes
        if limit and req.content_length is not None and req.content_length > limit:
            text = f"request body larger than max_request_bytes={limit}"
            return await conn.answer(req, t0, 413, text, drain=False)
        self.inflight += 1
        started = self.leftovers.call_started()
        try:
            keep = await self.runner.handle(conn, req, t0)
        finally:
            self.leftovers.call_ended(started)
            self.inflight -= 1
            if self.inflight == 0 and self.idle_event is not None:
                self.idle_event.set()
        if cfg.write_debug:
            log(f"{req.method} {req.target} done in {time.monotonic() - t0:.6f}s")
        return keep
