"""The runner interface: how a request whose head has been read reaches the function."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from ..config import Config
from ..connection import Connection
from ..http1.parser import Request, iter_body
from ..reaper import Reaper
from ..state import ServerState


class Runner(abc.ABC):
    """One mode of running the function. The server reads request heads and answers what
    never reaches the function (health, limits, bad requests); the runner does the rest."""

    def __init__(self, cfg: Config, state: ServerState, reaper: Reaper) -> None:
        self.cfg = cfg
        self.state = state
        self.reaper = reaper  # our children are claimed from it: their owner reaps them

    @abc.abstractmethod
    async def start(self) -> None:
        """Prepare to serve; mark the state ready once requests can be handled."""

    @abc.abstractmethod
    async def handle(self, conn: Connection, req: Request, t0: float) -> bool:
        """Serve one request (its body is still unread) and return whether the
        connection stays open."""

    @abc.abstractmethod
    def abandon(self) -> None:
        """The shutdown grace period is over: stop the work of requests still running."""

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """Stop what start() started, within `grace` seconds."""

    def content_type(self, req: Request) -> str:
        """The Content-Type of a function's response unless it sets its own."""
        return self.cfg.content_type or req.content_type or "text/plain"

    def request_body(self, conn: Connection, req: Request) -> AsyncIterator[bytes]:
        """The request's body as it arrives, under the configured read timeout and size
        limits (`iter_body`)."""
        cfg = self.cfg
        return iter_body(
            conn.reader,
            req.chunked,
            req.content_length,
            conn,
            cfg.read_timeout,
            cfg.max_request_bytes,
            cfg.max_header_bytes,
        )
