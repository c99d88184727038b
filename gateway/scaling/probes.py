"""Whether a replica is ready to take a call: the probes a wait for one polls with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Probe = Callable[[str, int], Awaitable[bool]]
"""Whether a replica at (address, port) is ready to take a call."""

# A task's address that does not answer its health check this fast is tried again later.
TASK_PROBE_TIMEOUT = 0.5
TASK_CONNECT_TIMEOUT = 0.1


async def health_probe(address: str, port: int, within: float) -> bool:
    """Whether the watchdog at `address:port` is ready: it accepts a connection and
    `GET /_/health` answers with a status below 500 (the watchdog's 503: not yet)."""
    try:
        # A task's address answers nothing (no refusal either) until its container's
        # network is up: a short connect deadline lets the next poll try again soon.
        async with asyncio.timeout(min(within, TASK_CONNECT_TIMEOUT)):
            reader, writer = await asyncio.open_connection(address, port)
        async with asyncio.timeout(within):
            try:
                writer.write(
                    b"GET /_/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                    % address.encode()
                )
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return False
    parts = status_line.split(None, 2)
    return (
        len(parts) >= 2
        and parts[0].startswith(b"HTTP/")
        and parts[1].isdigit()
        and int(parts[1]) < 500
    )


async def tcp_probe(address: str, port: int, within: float) -> bool:
    """Whether `address:port` accepts a TCP connection within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            _, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
