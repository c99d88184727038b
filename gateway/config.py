"""The gateway's configuration: one frozen object, read once from environment variables.

`load_config` is the only place that reads the environment; every error names the
variable at fault. The table of variables is README.md's ("Configuration"); values parse
with the watchdog's shared parsers (fwatchdog/values.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from fwatchdog.values import (
    BOOLEAN,
    DNS_LABEL,
    DURATION,
    invalid,
    is_dns_label,
    parse_bool,
    parse_duration,
    parse_http_url,
    parse_integer,
)

from gateway.labels import MAX_HOST_NAME_LENGTH, parse_host_name
from gateway.namespaces import DEFAULT_NAMESPACE
from gateway.providers.base import DEFAULT_FUNCTION_PORT, Function

ProviderKind = Literal["swarm", "static"]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

T = TypeVar("T")


class _Getter(Protocol):
    def __call__(self, name: str, parse: Callable[[str, str], T], default: T) -> T: ...


# An environment variable, the config field it sets and the parser of its value.
Setting = tuple[str, str, Callable[[str, str], Any]]


class ConfigError(ValueError):
    """An environment variable holds a value the gateway cannot use."""


def available_cpus() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return max(cpus, 1)
    if quota != "max" and int(period) > 0:
        cpus = min(cpus, math.ceil(int(quota) / int(period)))
    return max(cpus, 1)


@dataclass(frozen=True)
class HeadLimits:
    """Bounds on request heads and client connections (enforced by `gateway.http_limits`)."""

    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    head_timeout: float = 10.0
    max_connections: int = 4096


@dataclass(frozen=True)
class AsyncConfig:
    """Async calls on NATS JetStream (docs/async.md); `nats_url` empty: switched off."""

    nats_url: str = ""
    # Request bodies over this are refused at enqueue (413).
    max_body: int = 1024 * 1024
    # How this gateway is reached from the queue consumer; default callbacks may go to its
    # functions (`<gateway_url>/function/`).
    gateway_url: str = "http://gateway:8080"
    # URL prefixes a callback may start with; empty: `<gateway_url>/function/` only.
    callback_allowlist: tuple[str, ...] = ()
    # How long a call's status (and small result) can be read back by its id.
    status_retention: float = 24 * 3600.0
    # How long dead-lettered calls are kept.
    dead_letter_retention: float = 7 * 24 * 3600.0
    # JetStream's de-duplication window for `X-Idempotency-Key`; later repeats are caught
    # by the status record (docs/async.md).
    idempotency_window: float = 600.0
    # Without a heartbeat from a queue consumer for this long, a call is delivered again.
    ack_wait: float = 30.0
    # Calls one queue consumer runs at a time (over all functions).
    consumer_concurrency: int = 16
    # A result body up to this size is kept in the call's status.
    result_body_limit: int = 16 * 1024
    publish_timeout: float = 5.0
    # The queue consumer's own port for /metrics and /healthz (503 without a broker).
    consumer_port: int = 8081
    # Bounds on what the broker keeps (docs/security.md): a full calls stream or status
    # bucket refuses new calls (503; 429 for one function's), a full dead-letter stream
    # drops its oldest copies (their calls are final already).
    queue_max_calls: int = 100_000
    queue_max_bytes: int = 1024**3
    function_max_calls: int = 10_000
    dead_letter_max_calls: int = 10_000
    dead_letter_max_bytes: int = 256 * 1024**2
    status_max_bytes: int = 256 * 1024**2

    @property
    def enabled(self) -> bool:
        """Whether a broker is configured."""
        return bool(self.nats_url)

    def callback_prefixes(self) -> tuple[str, ...]:
        """The allowed callback URL prefixes (the default: this gateway's functions)."""
        return self.callback_allowlist or (self.gateway_url.rstrip("/") + "/function/",)


@dataclass(frozen=True)
class BasicAuthCredentials:
    """The one user name and password the gateway accepts."""

    user: str
    password: str = ""

    def __repr__(self) -> str:  # never print the password (config objects get logged)
        return f"BasicAuthCredentials(user={self.user!r}, password='***')"


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway can be told at start. Defaults are the documented ones."""

    host: str = "0.0.0.0"
    port: int = 8080
    provider: ProviderKind = "swarm"
    static_functions: tuple[Function, ...] = ()
    swarm_network: str = "functions"
    swarm_resync_interval: float = 30.0
    upstream_timeout: float = 60.0
    connect_timeout: float = 2.0
    buffer_limit: int = 64 * 1024
    dns_ttl: float = 1.0
    max_connections: int = 1024
    upstream_keepalive: float = 4.0
    access_log: bool = False
    log_level: str = "info"
    # None: the management API (/system) answers 503, closed.
    basic_auth: BasicAuthCredentials | None = None
    # Image prefixes the management API may deploy; empty: any image.
    image_allowlist: tuple[str, ...] = ()
    # Whether invoking a function needs the same credentials as /system.
    invoke_auth: bool = False
    # Autoscaling, scale to zero and from zero (docs/scaling.md); false: replicas are
    # never changed by the gateway itself.
    autoscale: bool = True
    autoscale_interval: float = 2.0
    # The Swarm service whose labels keep the autoscaler's cluster-wide lease; None: the
    # gateway's own service (docs/scaling.md).
    lease_service: str | None = None
    # How long a call may be held for a function with no ready replica (at zero, or
    # between replicas): GATEWAY_HOLD_TIMEOUT, or its first name
    # GATEWAY_SCALE_FROM_ZERO_TIMEOUT (docs/scaling.md).
    scale_from_zero_timeout: float = 30.0
    head_limits: HeadLimits = HeadLimits()
    # The one function namespace (`<name>.<namespace>`, GET /system/namespaces): OpenFaaS's
    # default, so faas-cli works unchanged (gateway/namespaces.py).
    namespace: str = DEFAULT_NAMESPACE
    async_calls: AsyncConfig = AsyncConfig()
    # Worker processes sharing the listening socket (gateway/workers.py); 1: one process,
    # no supervisor. Default: the CPUs the container may use.
    workers: int = field(default_factory=available_cpus)
    # On SIGTERM: seconds of serving on with /healthz at 503 (0: none), then at most
    # this long for the calls in flight (gateway/drain.py).
    drain_delay: float = 3.0
    drain_timeout: float = 30.0
    # The DNS name of every replica of this gateway (the stack: tasks.gateway): the first
    # phase also waits, up to drain_peer_wait, for another of them to answer ready
    # (gateway/drain_peers.py). Empty: no wait.
    drain_peers: str = ""
    # How long an idle keep-alive connection from a caller (or the front) stays open.
    keepalive_timeout: float = 5.0
    drain_peer_wait: float = 30.0
    # The commit the gateway's image was built from (`make images` bakes it in); GET
    # /system/info reports it as OpenFaaS's `version.sha`.
    build_sha: str = ""
    # Prometheus, whose query API /system/prometheus/api/v1/ serves behind the admin
    # credentials (the stack does not publish Prometheus itself); empty: not served (404).
    prometheus_url: str = ""
    # The functions domain: `Host: <name>.<domain>` reaches function <name> (README,
    # routing); None: only custom domains (`com.faas.domain`) route by host.
    functions_domain: str | None = None


def load_config(env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Build the config from `env` (default: `os.environ`); raise `ConfigError` if invalid."""
    env = os.environ if env is None else env
    defaults = GatewayConfig()

    def get(name: str, parse: Callable[[str, str], T], default: T) -> T:
        raw = env.get(name, "").strip()
        return parse(name, raw) if raw else default

    provider = get("GATEWAY_PROVIDER", _parse_provider, defaults.provider)
    static_functions = get(
        "GATEWAY_STATIC_FUNCTIONS", parse_static_functions, defaults.static_functions
    )
    if provider == "static" and not static_functions:
        raise ConfigError(
            "GATEWAY_STATIC_FUNCTIONS: required when GATEWAY_PROVIDER=static "
            "(e.g. 'echo=127.0.0.1:8081,cat=127.0.0.1:8082')"
        )
    return GatewayConfig(
        **_settings(get, defaults, _GATEWAY_SETTINGS),
        provider=provider,
        static_functions=static_functions,
        basic_auth=load_basic_auth(env),
        scale_from_zero_timeout=get(
            "GATEWAY_HOLD_TIMEOUT",
            _parse_seconds,
            get(
                "GATEWAY_SCALE_FROM_ZERO_TIMEOUT",
                _parse_seconds,
                defaults.scale_from_zero_timeout,
            ),
        ),
        head_limits=HeadLimits(**_settings(get, HeadLimits(), _HEAD_LIMIT_SETTINGS)),
        async_calls=AsyncConfig(**_settings(get, AsyncConfig(), _ASYNC_SETTINGS)),
    )


def _settings(get: _Getter, defaults: object, table: Iterable[Setting]) -> dict[str, Any]:
    """The fields a table of (variable, field, parser) names, each from its variable, or
    from `defaults` where the variable is unset."""
    return {field: get(name, parse, getattr(defaults, field)) for name, field, parse in table}


def _parse_nats_url(name: str, raw: str) -> str:
    for server in raw.split(","):
        if not server.strip().startswith(("nats://", "tls://")):
            raise ConfigError(invalid(name, raw, "nats://host:port (comma-separated)"))
    return raw


def _parse_http_url(name: str, raw: str) -> str:
    parts = parse_http_url(raw)
    if parts is None or parts.username is not None:
        raise ConfigError(invalid(name, raw, "http://host[:port][/path]"))
    return raw


def _parse_url_prefixes(name: str, raw: str) -> tuple[str, ...]:
    prefixes = tuple(part.strip() for part in raw.split(",") if part.strip())
    for prefix in prefixes:
        _parse_http_url(name, prefix)
    return prefixes


def load_basic_auth(env: Mapping[str, str]) -> BasicAuthCredentials | None:
    """Credentials from `GATEWAY_BASIC_AUTH_{USER,PASSWORD}_FILE` (Docker secrets), else
    from `GATEWAY_BASIC_AUTH_{USER,PASSWORD}` (development); None if neither is set."""
    values: dict[str, str] = {}
    for part in ("USER", "PASSWORD"):
        name = f"GATEWAY_BASIC_AUTH_{part}"
        path = env.get(f"{name}_FILE", "").strip()
        if path:
            values[part] = _read_secret_file(f"{name}_FILE", path)
        elif env.get(name, ""):
            values[part] = env[name]
    if not values:
        return None
    for part in ("USER", "PASSWORD"):
        if not values.get(part):
            raise ConfigError(
                f"GATEWAY_BASIC_AUTH_{part}: required (or GATEWAY_BASIC_AUTH_{part}_FILE) "
                "when the other half of the credentials is set"
            )
    if ":" in values["USER"]:
        raise ConfigError("GATEWAY_BASIC_AUTH_USER: must not contain ':'")
    return BasicAuthCredentials(values["USER"], values["PASSWORD"])


def _read_secret_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            # Files written by `echo` or editors end with a newline that is not part of it.
            return file.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{name}: cannot read {path!r}: {error}") from None


def _parse_prefixes(name: str, raw: str) -> tuple[str, ...]:
    prefixes = tuple(part.strip() for part in raw.split(",") if part.strip())
    for prefix in prefixes:
        if any(character.isspace() for character in prefix):
            raise ConfigError(f"{name}: image prefixes cannot contain spaces, got {prefix!r}")
    return prefixes


def parse_static_functions(name: str, raw: str) -> tuple[Function, ...]:
    """Parse `fn=host:port,fn2=host` (port defaults to 8080) into one-replica functions."""
    functions: dict[str, Function] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        function_name, sep, address = (s.strip() for s in entry.partition("="))
        if not sep or not function_name or not address:
            raise ConfigError(invalid(name, entry, "'name=host:port'"))
        if function_name in functions:
            raise ConfigError(f"{name}: function {function_name!r} is listed twice")
        host, port = _split_host_port(name, address)
        functions[function_name] = Function(
            name=function_name,
            image="static",
            replicas=1,
            upstream_host=host,
            upstream_port=port,
        )
    return tuple(functions.values())


def _split_host_port(name: str, address: str) -> tuple[str, int]:
    if address.startswith("["):  # [IPv6]:port
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port_text = address.partition(":")
    else:
        host, port_text = address, ""
    if not host:
        raise ConfigError(f"{name}: missing host in {address!r}")
    port = _parse_port(name, port_text) if port_text else DEFAULT_FUNCTION_PORT
    return host, port


def _parse_str(name: str, raw: str) -> str:
    return raw


def _parse_namespace(name: str, raw: str) -> str:
    if not is_dns_label(raw):
        raise ConfigError(invalid(name, raw, DNS_LABEL))
    return raw


def _parse_functions_domain(name: str, raw: str) -> str | None:
    if not raw.strip():
        return None
    domain = parse_host_name(raw)
    if domain is None:
        what = f"a host name (DNS labels joined by dots, at most {MAX_HOST_NAME_LENGTH} characters)"
        raise ConfigError(invalid(name, raw, what))
    return domain


def _parse_provider(name: str, raw: str) -> ProviderKind:
    value = raw.lower()
    if value == "swarm":
        return "swarm"
    if value == "static":
        return "static"
    raise ConfigError(invalid(name, raw, "'swarm' or 'static'"))


_MAX_INTEGER = 2**63 - 1


def _parse_int(name: str, raw: str, what: str, low: int, high: int = _MAX_INTEGER) -> int:
    value = parse_integer(raw, low, high)
    if value is None:
        raise ConfigError(invalid(name, raw, what))
    return value


def _parse_port(name: str, raw: str) -> int:
    return _parse_int(name, raw, "a port number 1-65535", 1, 65535)


def _parse_count(name: str, raw: str) -> int:
    return _parse_int(name, raw, "a positive integer", 1)


def _parse_workers(name: str, raw: str) -> int:
    count = _parse_count(name, raw)
    if count > 256:
        raise ConfigError(invalid(name, raw, "at most 256 worker processes"))
    return count


def _parse_size(name: str, raw: str) -> int:
    return _parse_int(name, raw, "a size in bytes (0 or more)", 0)


def _parse_head_size(name: str, raw: str) -> int:
    # Below about 1 KiB ordinary browsers' heads would not fit.
    return _parse_int(name, raw, "a size in bytes (1024 or more)", 1024)


def _parse_seconds(name: str, raw: str) -> float:
    seconds = parse_duration(raw)
    if not seconds:  # None (invalid) or 0: none of the gateway's durations may be zero
        raise ConfigError(invalid(name, raw, f"{DURATION}, above 0"))
    return seconds


def _parse_seconds_or_zero(name: str, raw: str) -> float:
    seconds = parse_duration(raw)
    if seconds is None:
        raise ConfigError(invalid(name, raw, f"{DURATION}, 0 or more"))
    return seconds


def _parse_bool(name: str, raw: str) -> bool:
    value = parse_bool(raw)
    if value is None:
        raise ConfigError(invalid(name, raw, BOOLEAN))
    return value


def _parse_log_level(name: str, raw: str) -> str:
    value = raw.lower()
    if value not in LOG_LEVELS:
        raise ConfigError(invalid(name, raw, f"one of {', '.join(LOG_LEVELS)}"))
    return value


# The variables read by the table (the others, read one by one in `load_config`, need
# more than a parser); below the parsers they name. README.md documents them.
_GATEWAY_SETTINGS: tuple[Setting, ...] = (
    ("GATEWAY_HOST", "host", _parse_str),
    ("GATEWAY_PORT", "port", _parse_port),
    ("GATEWAY_BUILD_SHA", "build_sha", _parse_str),
    ("GATEWAY_SWARM_NETWORK", "swarm_network", _parse_str),
    ("GATEWAY_SWARM_RESYNC_INTERVAL", "swarm_resync_interval", _parse_seconds),
    ("GATEWAY_UPSTREAM_TIMEOUT", "upstream_timeout", _parse_seconds),
    ("GATEWAY_CONNECT_TIMEOUT", "connect_timeout", _parse_seconds),
    ("GATEWAY_BUFFER_LIMIT", "buffer_limit", _parse_size),
    ("GATEWAY_DNS_TTL", "dns_ttl", _parse_seconds),
    ("GATEWAY_MAX_CONNECTIONS", "max_connections", _parse_count),
    ("GATEWAY_UPSTREAM_KEEPALIVE", "upstream_keepalive", _parse_seconds),
    ("GATEWAY_ACCESS_LOG", "access_log", _parse_bool),
    ("GATEWAY_LOG_LEVEL", "log_level", _parse_log_level),
    ("GATEWAY_IMAGE_ALLOWLIST", "image_allowlist", _parse_prefixes),
    ("GATEWAY_INVOKE_AUTH", "invoke_auth", _parse_bool),
    ("GATEWAY_AUTOSCALE", "autoscale", _parse_bool),
    ("GATEWAY_AUTOSCALE_INTERVAL", "autoscale_interval", _parse_seconds),
    ("GATEWAY_LEASE_SERVICE", "lease_service", _parse_str),
    ("GATEWAY_WORKERS", "workers", _parse_workers),
    ("GATEWAY_DRAIN_DELAY", "drain_delay", _parse_seconds_or_zero),
    ("GATEWAY_DRAIN_TIMEOUT", "drain_timeout", _parse_seconds),
    ("GATEWAY_DRAIN_PEERS", "drain_peers", _parse_str),
    ("GATEWAY_KEEPALIVE_TIMEOUT", "keepalive_timeout", _parse_seconds),
    ("GATEWAY_DRAIN_PEER_WAIT", "drain_peer_wait", _parse_seconds),
    ("GATEWAY_NAMESPACE", "namespace", _parse_namespace),
    ("GATEWAY_PROMETHEUS_URL", "prometheus_url", _parse_http_url),
    ("GATEWAY_FUNCTIONS_DOMAIN", "functions_domain", _parse_functions_domain),
)
_HEAD_LIMIT_SETTINGS: tuple[Setting, ...] = (
    ("GATEWAY_MAX_HEAD_BYTES", "max_head_bytes", _parse_head_size),
    ("GATEWAY_MAX_HEADERS", "max_headers", _parse_count),
    ("GATEWAY_HEAD_TIMEOUT", "head_timeout", _parse_seconds),
    ("GATEWAY_MAX_CLIENT_CONNECTIONS", "max_connections", _parse_count),
)
_ASYNC_SETTINGS: tuple[Setting, ...] = (
    ("GATEWAY_NATS_URL", "nats_url", _parse_nats_url),
    ("GATEWAY_ASYNC_MAX_BODY", "max_body", _parse_size),
    ("GATEWAY_ASYNC_GATEWAY_URL", "gateway_url", _parse_http_url),
    ("GATEWAY_ASYNC_CALLBACK_ALLOWLIST", "callback_allowlist", _parse_url_prefixes),
    ("GATEWAY_ASYNC_STATUS_RETENTION", "status_retention", _parse_seconds),
    ("GATEWAY_ASYNC_DLQ_RETENTION", "dead_letter_retention", _parse_seconds),
    ("GATEWAY_ASYNC_IDEMPOTENCY_WINDOW", "idempotency_window", _parse_seconds),
    ("GATEWAY_ASYNC_ACK_WAIT", "ack_wait", _parse_seconds),
    ("GATEWAY_ASYNC_CONCURRENCY", "consumer_concurrency", _parse_count),
    ("GATEWAY_ASYNC_RESULT_BODY_LIMIT", "result_body_limit", _parse_size),
    ("GATEWAY_ASYNC_PUBLISH_TIMEOUT", "publish_timeout", _parse_seconds),
    ("GATEWAY_ASYNC_WORKER_PORT", "consumer_port", _parse_port),
    ("GATEWAY_ASYNC_QUEUE_MAX_CALLS", "queue_max_calls", _parse_count),
    ("GATEWAY_ASYNC_QUEUE_MAX_BYTES", "queue_max_bytes", _parse_count),
    ("GATEWAY_ASYNC_FUNCTION_MAX_CALLS", "function_max_calls", _parse_count),
    ("GATEWAY_ASYNC_DLQ_MAX_CALLS", "dead_letter_max_calls", _parse_count),
    ("GATEWAY_ASYNC_DLQ_MAX_BYTES", "dead_letter_max_bytes", _parse_count),
    ("GATEWAY_ASYNC_STATUS_MAX_BYTES", "status_max_bytes", _parse_count),
)
