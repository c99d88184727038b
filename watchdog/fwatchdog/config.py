"""The watchdog's configuration: environment variables read once into a frozen Config.

Every error names the variable. See the configuration table in the repository's README.md.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from . import values

MAX_INTEGER = 2**63 - 1  # what the Go watchdog's integers hold

CHUNK = 65536  # read size for bodies and pipes
DEFAULT_JOB_MAX_OUTPUT = 1024 * 1024
"""Job mode: stdout kept at most (bytes), unless `FAAS_JOB_MAX_OUTPUT` says otherwise."""
HEALTH_PATH = "/_/health"

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    """The watchdog's whole configuration, built once from the environment."""

    fprocess: tuple[str, ...]
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
    max_spool_bytes: int = 256 * 1024 * 1024
    content_type: str = ""
    combine_output: bool = False
    expose_stderr: bool = False
    write_debug: bool = False
    log_calls: bool = True
    lock_file: str = "/tmp/.lock"
    suppress_lock: bool = False
    # Job mode (fwatchdog/job.py): set by the queue worker on a job's container only.
    job_url: str = ""
    job_token: str = ""
    job_max_output: int = DEFAULT_JOB_MAX_OUTPUT


def which(name: str, path: str) -> str | None:
    """The file `name` resolves to on `path` (``PATH``'s form), as ``shutil.which`` finds
    it on POSIX: a name with a slash as it is, else the first executable file (not a
    folder) in the folders of `path`; None when there is none. Not shutil's own: shutil
    loads the compression modules, 0.6 MB of an idle watchdog's RSS."""
    if os.path.dirname(name):
        return name if _executable(name) else None
    if not path:
        return None
    seen: set[str] = set()
    for folder in path.split(os.pathsep):
        if folder not in seen:
            seen.add(folder)
            candidate = os.path.join(folder, name)
            if _executable(candidate):
                return candidate
    return None


def _executable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.X_OK) and not os.path.isdir(path)


def int_var(env: Mapping[str, str], name: str, default: int) -> int:
    """The integer >= 0 in `name`, or `default` when it is unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = values.parse_integer(raw, 0, MAX_INTEGER)
    if value is None:
        raise ConfigError(values.invalid(name, raw, "an integer, 0 or more"))
    return value


def _parsed(
    env: Mapping[str, str], name: str, parse: Callable[[str], T | None], expected: str, default: T
) -> T:
    raw = env.get(name, "")
    if not raw.strip():
        return default
    value = parse(raw)
    if value is None:
        raise ConfigError(values.invalid(name, raw, expected))
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    return _parsed(env, name, values.parse_bool, values.BOOLEAN, default)


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    return _parsed(env, name, values.parse_duration, values.DURATION, default)


def load_config(env: Mapping[str, str]) -> Config:
    """Build the configuration from environment variables; raise ConfigError on bad input."""
    try:
        argv = tuple(shlex.split(env.get("fprocess", "")))
    except ValueError as exc:
        raise ConfigError(f"fprocess: cannot split {env.get('fprocess')!r}: {exc}") from None
    if not argv:
        raise ConfigError("fprocess is required: the command to run, e.g. fprocess=cat")
    if which(argv[0], env.get("PATH", os.defpath)) is None:
        raise ConfigError(f"fprocess: {argv[0]!r} is not found or not executable")
    mode = env.get("mode", "fork").strip().lower() or "fork"
    if mode not in ("fork", "http"):
        raise ConfigError(values.invalid("mode", mode, "fork or http"))
    upstream = env.get("upstream_url", "").strip()
    if mode == "http" and values.parse_http_url(upstream) is None:
        raise ConfigError(
            values.invalid(
                "upstream_url",
                upstream,
                "an http:// URL when mode=http, e.g. http://127.0.0.1:8000",
            )
        )
    port = int_var(env, "port", 8080)
    if not 0 < port < 65536:
        raise ConfigError(values.invalid("port", str(port), "a port number 1-65535"))
    return Config(
        fprocess=argv,
        mode=mode,
        port=port,
        upstream_url=upstream,
        read_timeout=_duration(env, "read_timeout", 10.0),
        write_timeout=_duration(env, "write_timeout", 10.0),
        exec_timeout=_duration(env, "exec_timeout", 10.0),
        shutdown_timeout=_duration(env, "shutdown_timeout", 10.0),
        max_inflight=int_var(env, "max_inflight", 0),
        max_request_bytes=int_var(env, "max_request_bytes", 0),
        max_header_bytes=max(int_var(env, "max_header_bytes", 65536), 1024),
        buffer_bytes=int_var(env, "buffer_bytes", 65536),
        max_spool_bytes=int_var(env, "max_spool_bytes", 256 * 1024 * 1024),
        content_type=env.get("content_type", "").strip(),
        combine_output=_bool(env, "combine_output", False),
        expose_stderr=_bool(env, "expose_stderr", False),
        write_debug=_bool(env, "write_debug", False),
        log_calls=_bool(env, "log_calls", True),
        lock_file=env.get("lock_file", "").strip() or "/tmp/.lock",
        suppress_lock=_bool(env, "suppress_lock", False),
        job_url=env.get("FAAS_JOB_URL", "").strip().rstrip("/"),
        job_token=env.get("FAAS_JOB_TOKEN", ""),
        job_max_output=int_var(env, "FAAS_JOB_MAX_OUTPUT", DEFAULT_JOB_MAX_OUTPUT),
    )
