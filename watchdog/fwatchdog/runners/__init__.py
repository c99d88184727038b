"""One runner per mode behind ``base.Runner``: ``process`` (``mode=fork``: fprocess per
request) and ``http`` (``mode=http``: requests proxied to a long-running fprocess)."""

from __future__ import annotations

from ..config import Config
from ..reaper import Reaper
from ..state import ServerState
from .base import Runner


def create_runner(cfg: Config, state: ServerState, reaper: Reaper) -> Runner:
    """The runner for cfg.mode."""
    if cfg.mode == "http":
        from .http import HttpRunner

        return HttpRunner(cfg, state, reaper)
    from .process import ProcessRunner

    return ProcessRunner(cfg, state, reaper)
