"""The socket options of a connection to a replica, and a few words for a failed one."""

from __future__ import annotations

import contextlib
import os
import socket

KEEPALIVE_IDLE = 5
KEEPALIVE_INTERVAL = 2
KEEPALIVE_PROBES = 3
"""TCP keepalive on every connection to a replica: after 5 s without traffic, a probe
every 2 s, and the connection fails after 3 unanswered (about 11 s). A dead node sends no
reset, so without this a call under way there waits for the whole upstream timeout. A
live replica's kernel answers the probes however long its function takes.

Keepalive only probes a connection with nothing unacknowledged, so a request written to
a pooled connection after its node died is covered by `TCP_USER_TIMEOUT` instead, set to
the same 11 s: sent data unacknowledged that long fails the connection. A replica that
leaves a streamed body unread (its window closed) looks the same to the kernel, so a
connection carrying one goes without it until it is back in the pool
(`Connection.allow_slow_reader`)."""


def reason(error: BaseException | None) -> str:
    """A few words for a failed connection (its OS error text when it has one)."""
    if error is None:
        return "closed by the replica"
    if isinstance(error, OSError) and not isinstance(error, socket.gaierror) and error.errno:
        return os.strerror(error.errno)  # asyncio's own text adds the address, said already
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def dead_peer_ms() -> int:
    """How long a replica's host may stay silent before its connection fails (ms)."""
    return (KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES) * 1000


def tune(sock: socket.socket) -> None:
    """No Nagle (small requests must leave at once), keepalive and the user timeout
    (`KEEPALIVE_IDLE`)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system's defaults
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
    set_user_timeout(sock, dead_peer_ms())


def set_user_timeout(sock: socket.socket, milliseconds: int) -> None:
    """How long sent data may stay unacknowledged before the connection fails (0: no
    bound, the system's default); Linux only."""
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, milliseconds)
