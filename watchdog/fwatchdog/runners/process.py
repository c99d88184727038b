"""The process runner (``mode=fork``): fprocess started per request.

Each request starts fprocess in its own session (see ``spawn``); the request body is its
stdin and its stdout the response body. The pipes are read and written from the event
loop's thread (``pipes``) and the child is reaped by ``child.Child``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import IO

from ..child import Child, outcome
from ..config import CHUNK, Config, which
from ..connection import Connection
from ..http1.parser import HTTPError, Request
from ..http1.writer import duration_header, frame, response_head, simple_response
from ..logs import log, log_call
from ..pipes import Pipe, StderrReader
from ..reaper import Reaper
from ..spawn import prepare_fds, spawn
from ..state import ServerState
from .base import Runner


class _Output:
    """stdout collected before the response status is committed."""

    __slots__ = ("committed", "held", "keep", "overflow", "size", "spool", "spooled", "total")

    def __init__(self) -> None:
        self.total = 0  # every byte fprocess wrote to stdout, for the call's log line
        self.held: list[bytes] = []
        self.size = 0
        self.spool: IO[bytes] | None = None
        self.spooled = 0
        self.committed = False
        self.keep = False
        self.overflow = False  # more output than max_spool_bytes: the call was stopped


_ENV_NAMES: dict[str, str] = {}


def env_name(header: str) -> str:
    """``x-call-id`` -> ``Http_X_Call_Id`` (Go's canonical form, dashes to underscores)."""
    name = _ENV_NAMES.get(header)
    if name is None:
        name = "Http_" + "_".join(p[:1].upper() + p[1:].lower() for p in header.split("-"))
        if len(_ENV_NAMES) < 1024:
            _ENV_NAMES[header] = name
    return name


class ProcessRunner(Runner):
    """Starts fprocess for every request and relays its stdin and stdout."""

    def __init__(self, cfg: Config, state: ServerState, reaper: Reaper) -> None:
        super().__init__(cfg, state, reaper)
        self.base_env = dict(os.environ)
        # Resolved once: posix_spawn then needs no PATH search per request.
        path = self.base_env.get("PATH", os.defpath)
        self.exe = which(cfg.fprocess[0], path) or cfg.fprocess[0]
        self.children: dict[int, Child] = {}

    async def start(self) -> None:
        """Make spawning safe (see spawn.prepare_fds) and mark ready."""
        prepare_fds()
        self.state.set_ready(True)

    def abandon(self) -> None:
        """Kill the process group of every request still running and stop reading it."""
        for child in list(self.children.values()):
            child.abort()

    async def stop(self, grace: float) -> None:
        """Nothing runs between requests."""

    def _env(self, req: Request) -> dict[str, str]:
        env = self.base_env.copy()
        seen = set()
        for name, value in req.headers:
            key = env_name(name)
            if key == "Http_Proxy":  # httpoxy: programs take it for their HTTP proxy
                continue
            if not value.isascii():  # let the bytes reach the process unchanged
                value = value.encode("latin-1").decode("utf-8", "surrogateescape")
            if key in seen:
                env[key] += ", " + value
            else:
                seen.add(key)
                env[key] = value
        env["Http_Method"] = req.method
        env["Http_Path"] = req.path
        env["Http_Query"] = req.query
        return env

    async def handle(self, conn: Connection, req: Request, t0: float) -> bool:
        """Run fprocess for this request and answer with its output."""
        cfg = self.cfg
        body = await conn.read_body(req)
        if cfg.log_calls:
            log_call("Forking fprocess.")
        started = time.monotonic()
        try:
            # On the loop's thread: a thread pool was measured to cost more (executor
            # futures, GIL hand-offs) than the overlap gained; see docs/benchmarks.md.
            pid, in_fd, out_fd, err_fd, rest = spawn(
                self.exe, cfg.fprocess, self._env(req), cfg.combine_output, body
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"cannot start fprocess: {exc}")
            text = f"cannot start fprocess: {exc}"
            return conn.error(req, t0, 500, text, body is not None)
        loop = conn.loop
        run = Child(loop, pid, self.reaper)
        self.children[pid] = run
        stdin = Pipe(loop, in_fd) if in_fd >= 0 else None
        stdout = Pipe(loop, out_fd)
        stderr = StderrReader(loop, err_fd, cfg.buffer_bytes) if err_fd >= 0 else None
        timer = loop.call_later(cfg.exec_timeout, run.expire) if cfg.exec_timeout else None

        def give_up() -> None:  # a process outside the group may hold our pipes open
            stdout.close()
            if stderr is not None:
                stderr.close()

        run.give_up = give_up
        conn.reader.on_eof = run.gone
        pump: asyncio.Future[None] | None = None
        feed: asyncio.Future[None] | None = None
        if stdin is not None and body is None:
            pump = asyncio.ensure_future(self._pump_body(conn, req, stdin))
            pump.add_done_callback(run.pump_done)
        elif stdin is not None:  # more than the pipe holds: the rest as it is read
            feed = asyncio.ensure_future(self._feed(stdin, rest))
        out = _Output()
        try:
            try:
                await self._collect(conn, req, t0, stdout, run, pump, out)
            except (ConnectionError, asyncio.TimeoutError):
                run.gone()
            if stderr is not None:
                await stderr.done
            rc = await run.wait()
            if stdin is not None and feed is not None and not feed.done():
                stdin.close()  # it has exited: what it did not read is dropped
                await asyncio.wait([feed])
            if pump is not None and not pump.done():
                if run.timed_out or run.client_gone:
                    pump.cancel()
                await asyncio.wait([pump])
            if cfg.write_debug:
                log(f"fprocess pid {pid} exited with {rc}")
            errors = stderr.tail if stderr is not None else bytearray()
            keep = await self._respond(conn, req, t0, run, rc, outcome(pump), out, errors)
            if cfg.log_calls and rc == 0 and not run.timed_out:
                seconds = time.monotonic() - started
                log_call(f"Wrote {out.total} Bytes - Duration: {seconds:f}s")
            return keep
        finally:
            if not run.finished:  # cancelled or failed midway
                run.kill()
                run.call_over = True
                run.watch()
            conn.reader.on_eof = None
            del self.children[pid]
            if timer is not None:
                timer.cancel()
            if out.spool is not None:
                out.spool.close()
            for task in (pump, feed):
                if task is not None and not task.done():
                    task.cancel()
            if stdin is not None:
                stdin.close()
            stdout.close()
            if stderr is not None:
                stderr.close()

    @staticmethod
    async def _feed(stdin: Pipe, data: bytes) -> None:
        await stdin.write(data)
        stdin.close()

    async def _collect(
        self,
        conn: Connection,
        req: Request,
        t0: float,
        stdout: Pipe,
        run: Child,
        pump: asyncio.Future[None] | None,
        out: _Output,
    ) -> None:
        """Read stdout to its end. Hold up to buffer_bytes in memory; while the request
        body is still arriving, spool the rest to a temporary file (the client may not
        read before it has sent everything); after that, commit a 200 and stream."""
        cfg = self.cfg
        chunked = req.http11
        send_body = req.method != "HEAD"
        while True:
            data = await stdout.read(CHUNK)
            if not data:
                return
            out.total += len(data)
            if run.client_gone:
                continue
            if out.committed:
                if send_body:
                    await conn.send(frame(data, chunked), cfg.write_timeout)
                continue
            if out.spool is None and out.size + len(data) <= cfg.buffer_bytes:
                out.held.append(data)
                out.size += len(data)
                continue
            if pump is not None and not pump.done():
                limit = cfg.max_spool_bytes
                if out.overflow or (limit and out.spooled + len(data) > limit):
                    out.overflow = True
                    run.abort()
                    continue
                if out.spool is None:
                    import tempfile  # rare: not loaded by an idle watchdog (0.25 MB)

                    out.spool = tempfile.TemporaryFile(prefix="fwatchdog-")  # noqa: SIM115
                out.spool.write(data)
                out.spooled += len(data)
                continue
            if outcome(pump) is not None:
                continue  # the body failed and the process is being killed
            out.committed = True
            out.keep = conn.keep(req, True) and chunked
            headers = [("Content-Type", self.content_type(req)), duration_header(t0)]
            head = response_head(200, headers, out.keep, None, chunked)
            if not send_body:
                await conn.send(head, cfg.write_timeout)
                continue
            held = b"".join(frame(d, chunked) for d in out.held)
            out.held.clear()
            await conn.send(head + held, cfg.write_timeout)
            if out.spool is not None:
                await self._send_spool(conn, out.spool, chunked)
            await conn.send(frame(data, chunked), cfg.write_timeout)

    async def _respond(
        self,
        conn: Connection,
        req: Request,
        t0: float,
        run: Child,
        rc: int,
        failure: BaseException | None,
        out: _Output,
        errors: bytearray,
    ) -> bool:
        """Finish the response once the process has exited."""
        cfg = self.cfg
        if conn.timed_out or run.client_gone:
            return False
        if isinstance(failure, (ConnectionError, asyncio.IncompleteReadError)):
            return False
        body_read = failure is None
        if out.committed:
            if rc == 0 and not run.timed_out:
                if req.http11 and req.method != "HEAD":
                    await conn.send(b"0\r\n\r\n", cfg.write_timeout)
                return out.keep
            # Too late for an error status: end the response without its last chunk.
            log(f"fprocess ended with {rc} after the response started; cutting it short")
            return False
        if isinstance(failure, HTTPError):
            return conn.error(req, t0, failure.status, failure.message, False)
        if out.overflow:
            text = (
                f"fprocess wrote more than max_spool_bytes={cfg.max_spool_bytes} "
                "while the request body was still arriving"
            )
            log(text)
            return conn.error(req, t0, 502, text, body_read)
        if run.timed_out:
            log(f"fprocess killed after exec_timeout={cfg.exec_timeout:g}s")
            text = f"fprocess did not finish within exec_timeout={cfg.exec_timeout:g}s"
            return conn.error(req, t0, 504, text, body_read)
        keep = conn.keep(req, body_read)
        headers = [duration_header(t0), ("X-Exit-Code", str(rc))]
        if rc != 0:
            if cfg.combine_output and out.size:
                body = b"".join(out.held)
            elif rc < 0:
                body = f"fprocess was killed by signal {-rc}\n".encode()
            elif errors and cfg.expose_stderr:
                body = bytes(errors)
            else:  # stderr is in the log; callers may not see it (it can hold secrets)
                body = f"fprocess exited with code {rc}\n".encode()
            if req.method == "HEAD":
                body = b""
            conn.transport.write(simple_response(500, body, headers, keep))
            return keep
        headers.insert(0, ("Content-Type", self.content_type(req)))
        head = response_head(200, headers, keep, out.size + out.spooled)
        if req.method == "HEAD":
            conn.transport.write(head)
        elif out.spool is None:
            conn.transport.write(head + b"".join(out.held))
        else:
            await conn.send(head + b"".join(out.held), cfg.write_timeout)
            await self._send_spool(conn, out.spool, False)
        return keep

    async def _send_spool(self, conn: Connection, spool: IO[bytes], chunked: bool) -> None:
        spool.seek(0)
        while True:
            data = spool.read(CHUNK)
            if not data:
                break
            await conn.send(frame(data, chunked), self.cfg.write_timeout)
        spool.close()

    async def _pump_body(self, conn: Connection, req: Request, stdin: Pipe) -> None:
        """Copy the request body to stdin as it arrives. If the process stops reading,
        keep reading (and dropping) the body so that the connection stays in sync."""
        alive = True
        try:
            async for data in self.request_body(conn, req):
                if alive:
                    alive = await stdin.write(data)
        finally:
            stdin.close()
