"""The watchdog's configuration: environment variables read once into a frozen Config.

Every error names the variable. See the configuration table in the repository's README.md.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNK = 65536  # read size for bodies and pipes
HEALTH_PATH = "/_/health"


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


def int_var(env: Mapping[str, str], name: str, default: int) -> int:
    """The integer >= 0 in `name`, or `default` when it is unset or empty."""
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
    port = int_var(env, "port", 8080)
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
    )
