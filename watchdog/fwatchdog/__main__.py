"""Command line: ``python3 fwatchdog.pyz`` serves, ``--healthcheck`` probes a running one."""

from __future__ import annotations

import asyncio
import http.client
import os
import sys
from collections.abc import Mapping

from .config import HEALTH_PATH, ConfigError, int_var, load_config
from .logs import log


def healthcheck(env: Mapping[str, str]) -> int:
    """Exit status for Docker HEALTHCHECK: 0 when GET /_/health answers 200, else 1."""
    try:
        port = int_var(env, "port", 8080)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", HEALTH_PATH)
        return 0 if conn.getresponse().status == 200 else 1
    except (OSError, ConfigError, http.client.HTTPException):
        return 1


def main(argv: list[str] | None = None) -> int:
    """Serve with the configuration from the environment, or ``--healthcheck``."""
    args = sys.argv[1:] if argv is None else argv
    if "--healthcheck" in args:
        return healthcheck(os.environ)
    try:
        cfg = load_config(os.environ)
    except ConfigError as exc:
        log(f"configuration error: {exc}")
        return 2
    if cfg.job_url:  # a job's container (FAAS_JOB_URL): one call, then exit
        from .job import run_job

        return run_job(cfg, os.environ)
    from .server import Watchdog  # not needed by --healthcheck, which runs every few seconds

    return asyncio.run(Watchdog(cfg).run())


def run() -> None:
    """Entry point of the zipapp: exit with main()'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
