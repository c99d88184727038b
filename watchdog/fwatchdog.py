#!/usr/bin/env python3
"""fwatchdog: turn any program into an HTTP function.

One module, standard library only, Python >= 3.9. Copy it into an image and run
``python3 fwatchdog.py`` (or ``python3 -m fwatchdog``) with ``fprocess`` set.

fork mode (default): every request starts ``fprocess`` in its own process group; the
request body is its stdin, its stdout is the response body.
http mode: ``fprocess`` is started once as an HTTP server on ``upstream_url`` and every
request is proxied to it over pooled keep-alive connections.

Configuration is read from environment variables; see README.md next to this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import http.client
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from email.utils import formatdate
from typing import (
    IO,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    SupportsIndex,
    Tuple,
)
from urllib.parse import urlsplit

CHUNK = 65536  # read size for bodies and pipes
HEALTH_PATH = "/_/health"

# ---------------------------------------------------------------------------------------
# Configuration


class ConfigError(Exception):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    """The watchdog's whole configuration, built once from the environment."""

    fprocess: Tuple[str, ...]
    mode: str = "fork"
    port: int = 8080
    upstream_url: str = ""
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    exec_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    max_inflight: int = 0
    max_request_bytes: int = 0
    max_header_bytes: int = 65536
    buffer_bytes: int = 65536
    content_type: str = ""
    combine_output: bool = False
    write_debug: bool = False
    lock_file: str = "/tmp/.lock"
    suppress_lock: bool = False


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(name: str, value: str) -> float:
    """Parse ``5s``, ``500ms``, ``1m30s`` or a plain number of seconds into seconds."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ConfigError(
                f"{name}={value!r} is not a duration (use e.g. 5s, 500ms, 1m30s or 2.5)"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not (0 <= seconds < 1e9):
        raise ConfigError(f"{name}={value!r} must be a duration >= 0")
    return seconds


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must be >= 0")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    return parse_duration(name, raw) if raw.strip() else default


def load_config(env: Mapping[str, str]) -> Config:
    """Build the configuration from environment variables; raise ConfigError on bad input."""
    try:
        argv = tuple(shlex.split(env.get("fprocess", "")))
    except ValueError as exc:
        raise ConfigError(f"fprocess: cannot split {env.get('fprocess')!r}: {exc}") from None
    if not argv:
        raise ConfigError("fprocess is required: the command to run, e.g. fprocess=cat")
    if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        raise ConfigError(f"fprocess: {argv[0]!r} is not found or not executable")
    mode = env.get("mode", "fork").strip().lower() or "fork"
    if mode not in ("fork", "http"):
        raise ConfigError(f"mode={mode!r} must be fork or http")
    upstream = env.get("upstream_url", "").strip()
    if mode == "http":
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(
                f"upstream_url={upstream!r} must be an http:// URL when mode=http, "
                "e.g. http://127.0.0.1:8000"
            )
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ConfigError(f"upstream_url={upstream!r} has an invalid port") from None
    port = _int(env, "port", 8080)
    if not 0 < port < 65536:
        raise ConfigError(f"port={port} must be between 1 and 65535")
    return Config(
        fprocess=argv,
        mode=mode,
        port=port,
        upstream_url=upstream,
        read_timeout=_duration(env, "read_timeout", 10.0),
        write_timeout=_duration(env, "write_timeout", 10.0),
        exec_timeout=_duration(env, "exec_timeout", 10.0),
        shutdown_timeout=_duration(env, "shutdown_timeout", 10.0),
        max_inflight=_int(env, "max_inflight", 0),
        max_request_bytes=_int(env, "max_request_bytes", 0),
        max_header_bytes=max(_int(env, "max_header_bytes", 65536), 1024),
        buffer_bytes=_int(env, "buffer_bytes", 65536),
        content_type=env.get("content_type", "").strip(),
        combine_output=_bool(env, "combine_output", False),
        write_debug=_bool(env, "write_debug", False),
        lock_file=env.get("lock_file", "").strip() or "/tmp/.lock",
        suppress_lock=_bool(env, "suppress_lock", False),
    )


def log(msg: str) -> None:
    """Write one line to the container log (stderr)."""
    sys.stderr.write(f"fwatchdog: {msg}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------
# HTTP/1.1 parsing and response helpers


class HTTPError(Exception):
    """A request that gets an error status instead of reaching the function."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(r"(%s) ([\x21-\x7e]+) HTTP/(\d)\.(\d)" % _TOKEN)
_HEADER_NAME = re.compile(_TOKEN)
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,15}")
_HOP_BY_HOP = frozenset(
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


class Request:
    """A parsed request head."""

    __slots__ = (
        "chunked",
        "content_length",
        "content_type",
        "expect_continue",
        "headers",
        "http11",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
    )

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.path = ""
        self.query = ""
        self.http11 = True
        self.headers: List[Tuple[str, str]] = []
        self.content_length: Optional[int] = None
        self.chunked = False
        self.keep_alive = True
        self.expect_continue = False
        self.content_type = ""

    @property
    def has_body(self) -> bool:
        """Whether a request body follows the head."""
        return self.chunked or bool(self.content_length)


def parse_head(head: bytes) -> Request:
    """Parse a request head (ending with CRLFCRLF); raise HTTPError when it is malformed."""
    lines = head.decode("latin-1").split("\r\n")[:-2]
    match = _REQUEST_LINE.fullmatch(lines[0]) if lines else None
    if match is None:
        raise HTTPError(400, "malformed request line")
    req = Request()
    req.method, req.target = match.group(1), match.group(2)
    major, minor = int(match.group(3)), int(match.group(4))
    if major != 1:
        raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    req.http11 = minor >= 1
    target = req.target
    if not target.startswith("/"):
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        elif not (target == "*" and req.method == "OPTIONS"):
            raise HTTPError(400, "malformed request target")
    req.path, _, req.query = target.partition("?")
    lengths: List[str] = []
    encodings: List[str] = []
    connection = ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or _HEADER_NAME.fullmatch(name) is None:
            raise HTTPError(400, "malformed header line")
        value = value.strip(" \t")
        if _BAD_VALUE.search(value):
            raise HTTPError(400, "invalid character in header value")
        req.headers.append((name, value))
        lower = name.lower()
        if lower == "content-length":
            lengths.extend(v.strip(" \t") for v in value.split(","))
        elif lower == "transfer-encoding":
            encodings.extend(v.strip(" \t").lower() for v in value.split(","))
        elif lower == "connection":
            connection += "," + value.lower()
        elif lower == "expect":
            req.expect_continue = value.lower() == "100-continue"
        elif lower == "content-type":
            req.content_type = value
    if encodings:
        if lengths:
            raise HTTPError(400, "both Content-Length and Transfer-Encoding")
        if encodings != ["chunked"] or not req.http11:
            raise HTTPError(400, "unsupported Transfer-Encoding (only chunked)")
        req.chunked = True
    elif lengths:
        first = lengths[0]
        if not first.isdigit() or not first.isascii() or len(first) > 18:
            raise HTTPError(400, "invalid Content-Length")
        if any(v != first for v in lengths):
            raise HTTPError(400, "conflicting Content-Length values")
        req.content_length = int(first)
    tokens = {t.strip() for t in connection.split(",")}
    req.keep_alive = "close" not in tokens if req.http11 else "keep-alive" in tokens
    return req


_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
_date_second = -1
_date_text = ""


def _date() -> str:
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_text = now, formatdate(now, usegmt=True)
    return _date_text


def response_head(
    status: int,
    headers: Sequence[Tuple[str, str]],
    keep_alive: bool,
    length: Optional[int],
    chunked: bool = False,
) -> bytes:
    """Serialise a status line and headers; the caller chooses the framing."""
    out = ["HTTP/1.1 %d %s\r\nDate: %s\r\n" % (status, _REASONS.get(status, ""), _date())]
    for name, value in headers:
        out.append(f"{name}: {value}\r\n")
    if length is not None:
        out.append(f"Content-Length: {length}\r\n")
    elif chunked:
        out.append("Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        out.append("Connection: close\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1")


def _simple(
    status: int, body: bytes, headers: Sequence[Tuple[str, str]], keep_alive: bool
) -> bytes:
    head = [("Content-Type", "text/plain; charset=utf-8"), *headers]
    return response_head(status, head, keep_alive, len(body)) + body


def _duration_header(t0: float) -> Tuple[str, str]:
    return ("X-Duration-Seconds", "%.6f" % (time.monotonic() - t0))


def _frame(data: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if chunked else data


class _Reader(asyncio.StreamReader):
    """A StreamReader that counts the bytes fed to it and reports when the client goes."""

    fed = 0
    on_eof: Optional[Callable[[], None]] = None

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        self.fed += len(data)  # type: ignore[arg-type]
        super().feed_data(data)

    def feed_eof(self) -> None:
        super().feed_eof()
        self._gone()

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        self._gone()

    def _gone(self) -> None:
        callback, self.on_eof = self.on_eof, None
        if callback is not None:
            callback()


class Conn:
    """One client connection: its streams and its read deadline."""

    __slots__ = ("loop", "mark", "reader", "timed_out", "timer", "transport", "writer")

    def __init__(self, reader: _Reader, writer: asyncio.StreamWriter) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.timer: Optional[asyncio.TimerHandle] = None
        self.mark = -1
        self.timed_out = False

    def arm(self, timeout: float, idle: bool = False, quiet: bool = False) -> None:
        """Start the read deadline: on expiry answer 408 (unless nothing was received
        since an idle arm, or quiet) and close. A timer, not wait_for: no task per read."""
        self.mark = 1 << 62 if quiet else self.reader.fed if idle else -1
        if timeout > 0:
            self.timer = self.loop.call_later(timeout, self._expire)

    def disarm(self) -> None:
        """Stop the read deadline."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        self.timed_out = True
        if self.reader.fed > self.mark and not self.transport.is_closing():
            body = b"request timed out (read_timeout)\n"
            self.transport.write(_simple(408, body, (), False))
        self.transport.close()

    async def send(self, data: bytes, limit: float) -> None:
        """Write; wait (at most `limit` s, 0 = no limit) only when the client is behind."""
        if self.transport.is_closing():
            raise ConnectionResetError("client connection closed")
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > 4 * CHUNK:
            await asyncio.wait_for(self.writer.drain(), limit or None)


async def iter_body(
    reader: asyncio.StreamReader,
    chunked: bool,
    length: Optional[int],
    conn: Optional[Conn] = None,
    read_timeout: float = 0,
    limit: int = 0,
) -> AsyncIterator[bytes]:
    """Yield a message body: chunked, `length` bytes, or up to EOF if length is None.

    With `conn`, every read has the read deadline. Raises HTTPError 400 on bad chunk
    framing, 413 past `limit` bytes, and IncompleteReadError on early EOF.
    """
    total = 0
    try:
        if chunked:
            while True:
                if conn is not None:
                    conn.arm(read_timeout)
                try:
                    line = await reader.readuntil(b"\r\n")
                except asyncio.LimitOverrunError:
                    raise HTTPError(400, "chunk size line too long") from None
                size_text = line[:-2].split(b";", 1)[0].rstrip(b" \t")
                if _CHUNK_SIZE.fullmatch(size_text) is None:
                    raise HTTPError(400, "malformed chunk size")
                size = int(size_text, 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailer fields are dropped
                    return
                total += size
                if limit and total > limit:
                    raise HTTPError(413, f"request body larger than max_request_bytes={limit}")
                while size:
                    data = await reader.read(min(size, CHUNK))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", size)
                    size -= len(data)
                    if conn is not None:
                        conn.disarm()
                    yield data
                    if conn is not None:
                        conn.arm(read_timeout)
                if await reader.readexactly(2) != b"\r\n":
                    raise HTTPError(400, "malformed chunk")
                if conn is not None:
                    conn.disarm()
        else:
            remaining = -1 if length is None else length
            while remaining:
                if conn is not None:
                    conn.arm(read_timeout)
                data = await reader.read(CHUNK if remaining < 0 else min(remaining, CHUNK))
                if conn is not None:
                    conn.disarm()
                if not data:
                    if remaining < 0:
                        return
                    raise asyncio.IncompleteReadError(b"", remaining)
                if remaining > 0:
                    remaining -= len(data)
                yield data
    finally:
        if conn is not None:
            conn.disarm()


def _outcome(task: Optional[asyncio.Future[None]]) -> Optional[BaseException]:
    """The exception a finished task ended with (marking it retrieved), else None."""
    if task is None or not task.done():
        return None
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception()


# ---------------------------------------------------------------------------------------
# Fork mode helpers

# Popen's restore_signals: Python ignores these, and an ignored signal stays ignored
# across exec, so the process would not die of SIGPIPE as programs expect.
_SIGDEF = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)
_use_posix_spawn = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")
_use_pidfd = hasattr(os, "pidfd_open")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def prepare_fds() -> None:
    """Make spawning with posix_spawn as safe as Popen(close_fds=True): keep fds 0-2 open
    (so that pipes never land on them) and mark every fd this process inherited (>= 3)
    close-on-exec. Every fd Python opens itself already is close-on-exec (PEP 446)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one
    try:
        names = os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd")
    except OSError:
        return
    for name in names:
        if name.isdigit() and int(name) > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(int(name), False)


def spawn(
    exe: str, argv: Tuple[str, ...], env: Mapping[str, str], combine: bool,
    body: Optional[bytes],
) -> Tuple[int, int, int, int, bytes]:
    """Start a process in a new session (its own process group) with pipes on its stdin,
    stdout and stderr (stderr into stdout when `combine`). A `body` (None: streamed later)
    is put into the stdin pipe before the process starts, which then needs no wake-up
    to get it. Returns (pid, stdin write fd or -1 when it is all written and closed,
    stdout read fd, stderr read fd or -1, the part of `body` that did not fit).

    posix_spawn (clone with CLONE_VFORK in glibc) costs a third of Popen's parent-side
    CPU: no Python-level bookkeeping and no error pipe. Popen is the fallback."""
    global _use_posix_spawn
    fds: List[int] = []
    rest = b""
    try:
        in_r, in_w = os.pipe()
        fds += (in_r, in_w)
        os.set_blocking(in_w, False)
        if body:
            try:
                rest = body[os.write(in_w, body):]
            except BlockingIOError:  # a pipe with no room (fs.pipe-user-pages-soft)
                rest = body
        if body is not None and not rest:
            os.close(in_w)
            fds.remove(in_w)
            in_w = -1
        out_r, out_w = os.pipe()
        fds += (out_r, out_w)
        err_r, err_w = -1, out_w
        if not combine:
            err_r, err_w = os.pipe()
            fds += (err_r, err_w)
        pid = -1
        if _use_posix_spawn:
            try:
                pid = os.posix_spawn(
                    exe,
                    argv,
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, in_r, 0),
                        (os.POSIX_SPAWN_DUP2, out_w, 1),
                        (os.POSIX_SPAWN_DUP2, err_w, 2),
                    ],
                    setsid=True,
                    setsigdef=_SIGDEF,
                )
            except NotImplementedError:  # no POSIX_SPAWN_SETSID on this platform
                _use_posix_spawn = False
        if pid < 0:
            proc = subprocess.Popen(
                argv, executable=exe, stdin=in_r, stdout=out_w, stderr=err_w, env=env,
                start_new_session=True,
            )
            pid = proc.pid
            proc.returncode = 0  # reaped by _Run, not by Popen's __del__ or _cleanup
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    for fd in (in_r, out_w) if combine else (in_r, out_w, err_w):
        os.close(fd)
    return pid, in_w, out_r, err_r, rest


class _Pipe:
    """Our end of a pipe to fprocess, non-blocking and used straight from the event loop
    (add_reader/add_writer while waiting): no transport, protocol or task per pipe."""

    __slots__ = ("fd", "loop", "waiter", "writing")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        os.set_blocking(fd, False)
        self.loop = loop
        self.fd = fd
        self.waiter: Optional[asyncio.Future[None]] = None
        self.writing = False

    async def _wait(self, writing: bool) -> None:
        self.waiter = waiter = self.loop.create_future()
        self.writing = writing
        if writing:
            self.loop.add_writer(self.fd, _wake, waiter)
        else:
            self.loop.add_reader(self.fd, _wake, waiter)
        try:
            await waiter
        finally:
            if self.waiter is waiter:
                self._unwatch()

    def _unwatch(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            if self.writing:
                self.loop.remove_writer(self.fd)
            else:
                self.loop.remove_reader(self.fd)
            _wake(waiter)

    async def read(self, size: int = CHUNK) -> bytes:
        """Up to `size` bytes as soon as there are some; b"" at the end (or once closed)."""
        while self.fd >= 0:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                await self._wait(False)
        return b""

    async def write(self, data: bytes) -> bool:
        """Write all of `data`; False when the process has closed its end (or we did)."""
        while self.fd >= 0:
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                await self._wait(True)
                continue
            except OSError:  # EPIPE
                return False
            if written == len(data):
                return True
            data = data[written:]
        return False

    def close(self) -> None:
        """Stop watching and close (wakes a pending read or write, which then ends)."""
        if self.fd >= 0:
            self._unwatch()
            os.close(self.fd)
            self.fd = -1


class _Stderr:
    """fprocess's stderr, read by a loop callback (no task): copied to the log line by line,
    and its last `keep` bytes kept for the body of a 500."""

    __slots__ = ("carry", "done", "fd", "keep", "loop", "tail")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, keep: int) -> None:
        os.set_blocking(fd, False)
        self.loop = loop
        self.fd = fd
        self.keep = keep
        self.tail = bytearray()
        self.carry = b""
        self.done: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, self._ready)

    def _ready(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        out = sys.stderr.buffer
        if not data:
            if self.carry:
                out.write(self.carry + b"\n")
                out.flush()
            self.close()
            return
        tail = self.tail
        tail += data
        if len(tail) > self.keep:
            del tail[: len(tail) - self.keep]
        data = self.carry + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > CHUNK:
            cut = len(data)
        if cut:
            out.write(data[:cut])
            out.flush()
        self.carry = data[cut:]

    def close(self) -> None:
        """Stop reading (at the end, or when the request is abandoned)."""
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        _wake(self.done)


class _Run:
    """One running fprocess: waiting for it, how it ended, and killing its process group.

    Until it is reaped its pid (= its process group id) cannot be reused, so killing the
    group is safe while `finished` is false. A wait that is needed goes through a pidfd
    on the event loop (Linux >= 5.3), else through a thread blocked in waitpid."""

    __slots__ = (
        "client_gone", "exited", "finished", "loop", "pid", "pidfd", "timed_out", "watched"
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int) -> None:
        self.loop = loop
        self.pid = pid
        self.finished = False
        self.timed_out = False
        self.client_gone = False
        self.exited: asyncio.Future[int] = loop.create_future()
        self.pidfd = -1
        self.watched = False

    async def wait(self) -> int:
        """Its exit code (negative: killed by that signal). It has usually exited by the
        time its output ends, so try without waiting first: no watcher needed then."""
        if not self.watched:
            self._reap()
        self.watch()
        return await self.exited

    def watch(self) -> None:
        """Reap it when it exits (once), whether or not anyone waits for that."""
        global _use_pidfd
        if self.watched or self.finished:
            return
        self.watched = True
        if _use_pidfd:
            try:
                self.pidfd = os.pidfd_open(self.pid)
            except OSError:  # ENOSYS: a kernel older than 5.3
                _use_pidfd = False
        if self.pidfd >= 0:
            self.loop.add_reader(self.pidfd, self._reap)
        else:
            threading.Thread(target=self._wait_blocking, daemon=True).start()

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: report 255, as asyncio does
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        if self.pidfd >= 0:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        self._ended(status)

    def _wait_blocking(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 255 << 8
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
            self.loop.call_soon_threadsafe(self._ended, status)

    def _ended(self, status: int) -> None:
        self.finished = True
        if not self.exited.done():
            self.exited.set_result(os.waitstatus_to_exitcode(status))

    def kill(self) -> None:
        """SIGKILL the process group unless the process has been reaped."""
        if not self.finished:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def expire(self) -> None:
        """exec_timeout has passed."""
        if not self.finished:
            self.timed_out = True
            self.kill()

    def gone(self) -> None:
        """The client closed its connection."""
        self.client_gone = True
        self.kill()

    def pump_done(self, task: asyncio.Future[None]) -> None:
        """The request body could not be read in full: stop the process."""
        if _outcome(task) is not None:
            self.kill()


class _Output:
    """stdout collected before the response status is committed."""

    __slots__ = ("committed", "held", "keep", "size", "spool", "spooled")

    def __init__(self) -> None:
        self.held: List[bytes] = []
        self.size = 0
        self.spool: Optional[IO[bytes]] = None
        self.spooled = 0
        self.committed = False
        self.keep = False


_ENV_NAMES: Dict[str, str] = {}


def env_name(header: str) -> str:
    """``x-call-id`` -> ``Http_X_Call_Id`` (Go's canonical form, dashes to underscores)."""
    name = _ENV_NAMES.get(header)
    if name is None:
        name = "Http_" + "_".join(p[:1].upper() + p[1:].lower() for p in header.split("-"))
        if len(_ENV_NAMES) < 1024:
            _ENV_NAMES[header] = name
    return name


# ---------------------------------------------------------------------------------------
# HTTP mode helpers


class Upstream:
    """The http-mode upstream: its address, state and pooled keep-alive connections."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.base = parts.path.rstrip("/")
        self.idle: List[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.up = False

    async def connect(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a new connection."""
        return await asyncio.open_connection(self.host, self.port)

    def take(self) -> Optional[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
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


class _Exchange:
    """One proxied request: the upstream connection in use and its exec deadline."""

    __slots__ = ("timed_out", "writer")

    def __init__(self) -> None:
        self.timed_out = False
        self.writer: Optional[asyncio.StreamWriter] = None

    def expire(self) -> None:
        self.timed_out = True
        if self.writer is not None:
            self.writer.transport.abort()


# ---------------------------------------------------------------------------------------
# The server


class Watchdog:
    """The HTTP server, the function processes and the upstream."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.base_env = dict(os.environ)
        # Resolved once: posix_spawn then needs no PATH search per request.
        path = self.base_env.get("PATH", os.defpath)
        self.exe = shutil.which(cfg.fprocess[0], path=path) or cfg.fprocess[0]
        self.inflight = 0
        self.draining = False
        self.ready = False
        self.idle_event: Optional[asyncio.Event] = None
        self.conns: Dict[Conn, asyncio.Task[None]] = {}
        self.runs: Dict[int, _Run] = {}
        self.upstream = Upstream(cfg.upstream_url) if cfg.mode == "http" else None
        self.upstream_proc: Optional[asyncio.subprocess.Process] = None

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT, drain, and return the exit status."""
        loop = asyncio.get_running_loop()
        _use_pidfd_child_watcher(loop)
        if self.upstream is None:
            prepare_fds()
        self.idle_event = asyncio.Event()

        def protocol() -> asyncio.StreamReaderProtocol:
            return asyncio.StreamReaderProtocol(_Reader(self.cfg.max_header_bytes), self._serve)

        server = await loop.create_server(
            protocol, "0.0.0.0", self.cfg.port, reuse_address=True, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        supervisor = None
        if self.upstream is not None:
            supervisor = asyncio.ensure_future(self._supervise(self.upstream))
        else:
            self._set_ready(True)
        log(
            f"listening on port {self.cfg.port}, mode={self.cfg.mode}, "
            f"fprocess={' '.join(shlex.quote(a) for a in self.cfg.fprocess)}"
        )
        await stop.wait()

        grace = self.cfg.shutdown_timeout
        log(f"draining: waiting up to {grace:g}s for {self.inflight} request(s)")
        self.draining = True
        self._set_ready(False)
        server.close()
        deadline = loop.time() + self.cfg.shutdown_timeout
        if self.inflight:
            self.idle_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle_event.wait(), self.cfg.shutdown_timeout)
        for run in list(self.runs.values()):
            run.kill()
        for conn in list(self.conns):
            conn.transport.close()  # flushes what was written, then closes
        tasks = list(self.conns.values())
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.5, deadline - loop.time()))
        for conn in list(self.conns):
            conn.transport.abort()
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait([supervisor])
            await self._stop_upstream(max(1.0, deadline - loop.time()))
        log("stopped")
        return 0

    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        if self.cfg.suppress_lock:
            return
        try:
            if ready:
                with open(self.cfg.lock_file, "w"):
                    pass
            else:
                os.unlink(self.cfg.lock_file)
        except OSError as exc:
            if ready:
                log(f"cannot write lock_file {self.cfg.lock_file}: {exc}")

    def _keep(self, req: Request, body_read: bool) -> bool:
        return req.keep_alive and body_read and not self.draining

    # -- connections ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert isinstance(reader, _Reader)
        conn = Conn(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self.conns[conn] = task
        try:
            while not self.draining or reader.fed > conn.mark:
                conn.arm(self.cfg.read_timeout, idle=True)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    writer.write(_simple(431, b"request header fields too large\n", (), False))
                    break
                finally:
                    conn.disarm()
                t0 = time.monotonic()
                try:
                    req = parse_head(head)
                except HTTPError as exc:
                    body = exc.message.encode() + b"\n"
                    writer.write(_simple(exc.status, body, [_duration_header(t0)], False))
                    break
                if not await self._dispatch(conn, req, t0):
                    break
                conn.mark = reader.fed
            await self._linger(conn)
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

    async def _dispatch(self, conn: Conn, req: Request, t0: float) -> bool:
        """Handle one request; return whether the connection stays open."""
        cfg = self.cfg
        if req.path == HEALTH_PATH:
            if self.ready:
                return await self._answer(conn, req, t0, 200, "OK")
            reason = "draining" if self.draining else "upstream is not ready"
            return await self._answer(conn, req, t0, 503, reason)
        if cfg.max_inflight and self.inflight >= cfg.max_inflight:
            text = f"too many requests in flight (max_inflight={cfg.max_inflight})"
            return await self._answer(conn, req, t0, 429, text)
        limit = cfg.max_request_bytes
        if limit and req.content_length is not None and req.content_length > limit:
            text = f"request body larger than max_request_bytes={limit}"
            return await self._answer(conn, req, t0, 413, text, drain=False)
        self.inflight += 1
        try:
            if self.upstream is not None:
                keep = await self._proxy(conn, req, t0, self.upstream)
            else:
                keep = await self._fork(conn, req, t0)
        finally:
            self.inflight -= 1
            if self.inflight == 0 and self.idle_event is not None:
                self.idle_event.set()
        if cfg.write_debug:
            log(f"{req.method} {req.target} done in {time.monotonic() - t0:.6f}s")
        return keep

    async def _answer(
        self, conn: Conn, req: Request, t0: float, status: int, text: str, drain: bool = True
    ) -> bool:
        """Answer with a short text before reading the body: read a small body to keep
        the connection, else close it (after lingering so the client sees the answer)."""
        keep = self._keep(req, True)
        if req.has_body:
            small = not req.chunked and (req.content_length or 0) <= self.cfg.buffer_bytes
            keep = keep and drain and small and not req.expect_continue
            if keep:
                conn.arm(self.cfg.read_timeout)
                try:
                    await conn.reader.readexactly(req.content_length or 0)
                finally:
                    conn.disarm()
        body = b"" if req.method == "HEAD" else text.encode() + b"\n"
        conn.transport.write(_simple(status, body, [_duration_header(t0)], keep))
        return keep

    def _error(self, conn: Conn, req: Request, t0: float, status: int, text: str,
               body_read: bool) -> bool:
        """Answer with an error once the body has been (maybe partly) read."""
        keep = self._keep(req, body_read)
        body = b"" if req.method == "HEAD" else text.encode() + b"\n"
        conn.transport.write(_simple(status, body, [_duration_header(t0)], keep))
        return keep

    async def _linger(self, conn: Conn) -> None:
        """Before closing, half-close and drop what the client still sends (up to a
        limit), so that it reads our last answer instead of a connection reset."""
        if not conn.transport.can_write_eof() or conn.transport.is_closing():
            return
        conn.transport.write_eof()
        conn.arm(min(self.cfg.read_timeout or 2.0, 2.0), quiet=True)
        try:
            left = 16 * 1024 * 1024
            while left > 0:
                data = await conn.reader.read(CHUNK)
                if not data:
                    break
                left -= len(data)
        finally:
            conn.disarm()

    async def _read_body(self, conn: Conn, req: Request) -> Optional[bytes]:
        """Send 100 Continue if asked; read a small body whole (None: it is to be streamed)."""
        if req.expect_continue and req.has_body:
            conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if req.chunked or (req.content_length or 0) > self.cfg.buffer_bytes:
            return None
        if not req.content_length:
            return b""
        conn.arm(self.cfg.read_timeout)
        try:
            return await conn.reader.readexactly(req.content_length)
        finally:
            conn.disarm()

    def _content_type(self, req: Request) -> str:
        return self.cfg.content_type or req.content_type or "text/plain"

    # -- fork mode -----------------------------------------------------------------------

    def _env(self, req: Request) -> Dict[str, str]:
        env = self.base_env.copy()
        seen = set()
        for name, value in req.headers:
            key = env_name(name)
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

    async def _fork(self, conn: Conn, req: Request, t0: float) -> bool:
        cfg = self.cfg
        body = await self._read_body(conn, req)
        try:
            # On the loop's thread: a thread pool was measured to cost more (executor
            # futures, GIL hand-offs) than the overlap gained; see docs/benchmarks.md.
            pid, in_fd, out_fd, err_fd, rest = spawn(
                self.exe, cfg.fprocess, self._env(req), cfg.combine_output, body
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"cannot start fprocess: {exc}")
            text = f"cannot start fprocess: {exc}"
            return self._error(conn, req, t0, 500, text, body is not None)
        loop = conn.loop
        run = _Run(loop, pid)
        self.runs[pid] = run
        stdin = _Pipe(loop, in_fd) if in_fd >= 0 else None
        stdout = _Pipe(loop, out_fd)
        stderr = _Stderr(loop, err_fd, cfg.buffer_bytes) if err_fd >= 0 else None
        timer = loop.call_later(cfg.exec_timeout, run.expire) if cfg.exec_timeout else None
        conn.reader.on_eof = run.gone
        pump: Optional[asyncio.Future[None]] = None
        feed: Optional[asyncio.Future[None]] = None
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
            return await self._respond(conn, req, t0, run, rc, _outcome(pump), out, errors)
        finally:
            if not run.finished:  # cancelled or failed midway
                run.kill()
                run.watch()
            conn.reader.on_eof = None
            del self.runs[pid]
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
    async def _feed(stdin: _Pipe, data: bytes) -> None:
        await stdin.write(data)
        stdin.close()

    async def _collect(
        self,
        conn: Conn,
        req: Request,
        t0: float,
        stdout: _Pipe,
        run: _Run,
        pump: Optional[asyncio.Future[None]],
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
            if run.client_gone:
                continue
            if out.committed:
                if send_body:
                    await conn.send(_frame(data, chunked), cfg.write_timeout)
                continue
            if out.spool is None and out.size + len(data) <= cfg.buffer_bytes:
                out.held.append(data)
                out.size += len(data)
                continue
            if pump is not None and not pump.done():
                if out.spool is None:
                    out.spool = tempfile.TemporaryFile(prefix="fwatchdog-")  # noqa: SIM115
                out.spool.write(data)
                out.spooled += len(data)
                continue
            if _outcome(pump) is not None:
                continue  # the body failed and the process is being killed
            out.committed = True
            out.keep = self._keep(req, True) and chunked
            headers = [("Content-Type", self._content_type(req)), _duration_header(t0)]
            head = response_head(200, headers, out.keep, None, chunked)
            if not send_body:
                await conn.send(head, cfg.write_timeout)
                continue
            held = b"".join(_frame(d, chunked) for d in out.held)
            out.held.clear()
            await conn.send(head + held, cfg.write_timeout)
            if out.spool is not None:
                await self._send_spool(conn, out.spool, chunked)
            await conn.send(_frame(data, chunked), cfg.write_timeout)

    async def _respond(
        self,
        conn: Conn,
        req: Request,
        t0: float,
        run: _Run,
        rc: int,
        failure: Optional[BaseException],
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
            return self._error(conn, req, t0, failure.status, failure.message, False)
        if run.timed_out:
            log(f"fprocess killed after exec_timeout={cfg.exec_timeout:g}s")
            text = f"fprocess did not finish within exec_timeout={cfg.exec_timeout:g}s"
            return self._error(conn, req, t0, 504, text, body_read)
        keep = self._keep(req, body_read)
        headers = [_duration_header(t0), ("X-Exit-Code", str(rc))]
        if rc != 0:
            if cfg.combine_output and out.size:
                body = b"".join(out.held)
            elif rc < 0:
                body = f"fprocess was killed by signal {-rc}\n".encode()
            else:
                body = bytes(errors) or f"fprocess exited with code {rc}\n".encode()
            if req.method == "HEAD":
                body = b""
            conn.transport.write(_simple(500, body, headers, keep))
            return keep
        headers.insert(0, ("Content-Type", self._content_type(req)))
        head = response_head(200, headers, keep, out.size + out.spooled)
        if req.method == "HEAD":
            conn.transport.write(head)
        elif out.spool is None:
            conn.transport.write(head + b"".join(out.held))
        else:
            await conn.send(head + b"".join(out.held), cfg.write_timeout)
            await self._send_spool(conn, out.spool, False)
        return keep

    async def _send_spool(self, conn: Conn, spool: IO[bytes], chunked: bool) -> None:
        spool.seek(0)
        while True:
            data = spool.read(CHUNK)
            if not data:
                break
            await conn.send(_frame(data, chunked), self.cfg.write_timeout)
        spool.close()

    async def _pump_body(self, conn: Conn, req: Request, stdin: _Pipe) -> None:
        """Copy the request body to stdin as it arrives. If the process stops reading,
        keep reading (and dropping) the body so that the connection stays in sync."""
        cfg = self.cfg
        alive = True
        try:
            async for data in iter_body(
                conn.reader, req.chunked, req.content_length, conn, cfg.read_timeout,
                cfg.max_request_bytes,
            ):
                if alive:
                    alive = await stdin.write(data)
        finally:
            stdin.close()

    # -- http mode -----------------------------------------------------------------------

    async def _supervise(self, upstream: Upstream) -> None:
        """Start the upstream, mark it ready once it accepts, restart it when it dies."""
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            started = loop.time()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.cfg.fprocess, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
                )
            except OSError as exc:
                log(f"cannot start fprocess: {exc}")
            else:
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
                    self._set_ready(True)
                    log("upstream is ready")
                    break
                rc = await exited
                upstream.up = False
                upstream.clear()
                self._set_ready(False)
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

    def _upstream_head(self, req: Request, upstream: Upstream, body: Optional[bytes]) -> bytes:
        query = "?" + req.query if req.query else ""
        lines = [f"{req.method} {upstream.base}{req.path}{query} HTTP/1.1\r\n"]
        drop = set(_HOP_BY_HOP)
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

    async def _proxy(self, conn: Conn, req: Request, t0: float, upstream: Upstream) -> bool:
        cfg = self.cfg
        if not upstream.up:
            return await self._answer(conn, req, t0, 503, "upstream is not ready")
        body = await self._read_body(conn, req)
        head = self._upstream_head(req, upstream, body)
        exchange = _Exchange()
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
                    return self._error(conn, req, t0, 502, text, body is not None)
                exchange.writer = uwriter
                try:
                    rhead = await self._send_upstream(conn, req, head, body, ureader, uwriter)
                except HTTPError as exc:  # bad request body from the client
                    uwriter.transport.abort()
                    return self._error(conn, req, t0, exc.status, exc.message, False)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ValueError) as exc:
                    uwriter.transport.abort()
                    if conn.timed_out or conn.reader.at_eof():
                        return False  # the client went away
                    if exchange.timed_out:
                        text = f"upstream did not answer within exec_timeout={cfg.exec_timeout:g}s"
                        return self._error(conn, req, t0, 504, text, body is not None)
                    if pooled is not None and body is not None:
                        continue  # a stale keep-alive connection: retry once on a new one
                    text = f"upstream failed: {exc!r}"
                    return self._error(conn, req, t0, 502, text, body is not None)
                return await self._relay(conn, req, t0, rhead, ureader, uwriter, exchange)
            raise AssertionError("unreachable")
        finally:
            if timer is not None:
                timer.cancel()

    async def _send_upstream(
        self,
        conn: Conn,
        req: Request,
        head: bytes,
        body: Optional[bytes],
        ureader: asyncio.StreamReader,
        uwriter: asyncio.StreamWriter,
    ) -> bytes:
        """Send the request upstream and return the response head."""
        cfg = self.cfg
        if body is not None:
            uwriter.write(head + body)
        else:
            uwriter.write(head)
            async for data in iter_body(
                conn.reader, req.chunked, req.content_length, conn, cfg.read_timeout,
                cfg.max_request_bytes,
            ):
                uwriter.write(_frame(data, req.chunked))
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
        conn: Conn,
        req: Request,
        t0: float,
        rhead: bytes,
        ureader: asyncio.StreamReader,
        uwriter: asyncio.StreamWriter,
        exchange: _Exchange,
    ) -> bool:
        """Copy the upstream's response to the client."""
        cfg = self.cfg
        assert self.upstream is not None
        lines = rhead.decode("latin-1").split("\r\n")[:-2]
        status = int(lines[0][9:12])
        fields = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
        drop = set(_HOP_BY_HOP)
        reusable = lines[0].startswith("HTTP/1.1")
        length: Optional[int] = None
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
        headers.append(_duration_header(t0))
        no_body = req.method == "HEAD" or status in (204, 304) or status < 200
        if no_body:
            length, chunked = 0, False
        elif chunked:
            length = None
        elif length is None:
            reusable = False  # the body ends when the upstream closes
        keep = self._keep(req, True)
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
                    await conn.send(_frame(data, client_chunked), cfg.write_timeout)
                if client_chunked:
                    await conn.send(b"0\r\n\r\n", cfg.write_timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, HTTPError, ValueError) as exc:
            uwriter.transport.abort()
            if started or conn.transport.is_closing():
                return False
            if exchange.timed_out:
                text = f"upstream did not answer within exec_timeout={cfg.exec_timeout:g}s"
                return self._error(conn, req, t0, 504, text, True)
            return self._error(conn, req, t0, 502, f"upstream failed: {exc!r}", True)
        if reusable and self.upstream.up and not exchange.timed_out:
            self.upstream.idle.append((ureader, uwriter))
        else:
            uwriter.close()
        return keep


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


def healthcheck(env: Mapping[str, str]) -> int:
    """Exit status for Docker HEALTHCHECK: 0 when GET /_/health answers 200, else 1."""
    try:
        port = _int(env, "port", 8080)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", HEALTH_PATH)
        return 0 if conn.getresponse().status == 200 else 1
    except (OSError, ConfigError, http.client.HTTPException):
        return 1


def main(argv: List[str]) -> int:
    """Command-line entry point: serve, or ``--healthcheck``."""
    if "--healthcheck" in argv:
        return healthcheck(os.environ)
    try:
        cfg = load_config(os.environ)
    except ConfigError as exc:
        log(f"configuration error: {exc}")
        return 2
    return asyncio.run(Watchdog(cfg).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
