"""Command line: ``python3 fwatchdog.pyz`` serves, ``--healthcheck`` probes a running one,
``--precompile`` puts this Python's bytecode into the archive (at image build time)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from .config import HEALTH_PATH, ConfigError, int_var, load_config
from .logs import log

NOT_AT_REST = ("ssl",)
"""Modules that asyncio imports if it can but that the server never uses: importing the
server with them blocked keeps them out of an idle watchdog (``ssl`` alone loads libssl
and libcrypto, about 4.5 MB of RSS; docs/benchmarks.md, "Idle memory of a function")."""


def import_blocking(module: str, attribute: str, blocked: tuple[str, ...]) -> Any:
    """``from <module> import <attribute>`` while the modules in `blocked` that are not
    loaded yet cannot be imported (an optional import of them fails); afterwards they can
    be imported again, by whoever needs them later."""
    added = [name for name in blocked if name not in sys.modules]
    for name in added:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        loaded = __import__(module, fromlist=[attribute], level=0)
    finally:
        for name in added:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return getattr(loaded, attribute)


def healthcheck(env: Mapping[str, str]) -> int:
    """Exit status for Docker HEALTHCHECK: 0 when GET /_/health answers 200, else 1."""
    import http.client  # here, not at the top: only --healthcheck needs it

    try:
        port = int_var(env, "port", 8080)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", HEALTH_PATH)
        return 0 if conn.getresponse().status == 200 else 1
    except (OSError, ConfigError, http.client.HTTPException):
        return 1


def main(argv: list[str] | None = None) -> int:
    """Serve with the configuration from the environment, or ``--healthcheck``, or
    ``--precompile``."""
    args = sys.argv[1:] if argv is None else argv
    if "--healthcheck" in args:
        return healthcheck(os.environ)
    if "--precompile" in args:  # at image build time: see precompile.py
        from .precompile import precompile

        return precompile(sys.argv[0])
    try:
        cfg = load_config(os.environ)
    except ConfigError as exc:
        log(f"configuration error: {exc}")
        return 2
    if cfg.job_url:  # a job's container (FAAS_JOB_URL): one call, then exit
        from .job import run_job

        return run_job(cfg, os.environ)
    # Not needed by --healthcheck, which runs every few seconds. The server first: it
    # imports asyncio while the modules in NOT_AT_REST are blocked.
    watchdog = import_blocking(f"{__package__}.server", "Watchdog", NOT_AT_REST)
    import asyncio

    return int(asyncio.run(watchdog(cfg).run()))


def run() -> None:
    """Entry point of the zipapp: exit with main()'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
