"""What the server, its connections and its runner share: readiness and draining.

Readiness is also published as ``lock_file`` (the classic watchdog's convention), which
exists while the watchdog accepts work.
"""

from __future__ import annotations

import os

from .config import Config
from .logs import log


class ServerState:
    """Whether the watchdog is ready for work and whether it is draining."""

    __slots__ = ("cfg", "draining", "ready")

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.ready = False
        self.draining = False

    def set_ready(self, ready: bool) -> None:
        """Mark ready (or not) and create (or remove) lock_file unless suppress_lock."""
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
