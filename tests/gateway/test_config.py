"""Configuration from environment variables: defaults, parsing, errors naming the variable."""

from __future__ import annotations

import os

import pytest

from gateway.config import ConfigError, GatewayConfig, available_cpus, load_config
from gateway.providers.base import Function


def test_defaults() -> None:
    config = load_config({})
    assert config == GatewayConfig()
    assert (config.host, config.port, config.provider) == ("0.0.0.0", 8080, "swarm")
    assert config.buffer_limit == 65536


def test_every_variable_is_read() -> None:
    config = load_config(
        {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": "9000",
            "GATEWAY_PROVIDER": "static",
            "GATEWAY_STATIC_FUNCTIONS": "cat=127.0.0.1:8081, env = fn-host ,v6=[::1]:9",
            "GATEWAY_SWARM_NETWORK": "func_functions",
            "GATEWAY_SWARM_RESYNC_INTERVAL": "10",
            "GATEWAY_UPSTREAM_TIMEOUT": "2.5s",
            "GATEWAY_CONNECT_TIMEOUT": "0.5",
            "GATEWAY_BUFFER_LIMIT": "0",
            "GATEWAY_DNS_TTL": "2",
            "GATEWAY_MAX_CONNECTIONS": "10",
            "GATEWAY_UPSTREAM_KEEPALIVE": "3",
            "GATEWAY_ACCESS_LOG": "true",
            "GATEWAY_LOG_LEVEL": "DEBUG",
            "GATEWAY_WORKERS": "3",
            "GATEWAY_NAMESPACE": "team-a",
        }
    )
    assert config == GatewayConfig(
        host="127.0.0.1",
        port=9000,
        provider="static",
        static_functions=(
            Function("cat", "static", 1, "127.0.0.1", 8081),
            Function("env", "static", 1, "fn-host", 8080),
            Function("v6", "static", 1, "::1", 9),
        ),
        swarm_network="func_functions",
        swarm_resync_interval=10.0,
        upstream_timeout=2.5,
        connect_timeout=0.5,
        buffer_limit=0,
        dns_ttl=2.0,
        max_connections=10,
        upstream_keepalive=3.0,
        access_log=True,
        log_level="debug",
        workers=3,
        namespace="team-a",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_PORT", "http"),
        ("GATEWAY_PORT", "70000"),
        ("GATEWAY_PROVIDER", "kubernetes"),
        ("GATEWAY_UPSTREAM_TIMEOUT", "-1"),
        ("GATEWAY_UPSTREAM_TIMEOUT", "soon"),
        ("GATEWAY_DNS_TTL", "nan"),
        ("GATEWAY_BUFFER_LIMIT", "-5"),
        ("GATEWAY_MAX_CONNECTIONS", "0"),
        ("GATEWAY_ACCESS_LOG", "maybe"),
        ("GATEWAY_LOG_LEVEL", "loud"),
        ("GATEWAY_STATIC_FUNCTIONS", "cat"),
        ("GATEWAY_STATIC_FUNCTIONS", "cat=host:port"),
        ("GATEWAY_STATIC_FUNCTIONS", "cat=a:1,cat=b:2"),
        ("GATEWAY_STATIC_FUNCTIONS", "=a:1"),
        ("GATEWAY_WORKERS", "0"),
        ("GATEWAY_WORKERS", "two"),
        ("GATEWAY_WORKERS", "1000"),
        ("GATEWAY_NAMESPACE", "team.a"),
        ("GATEWAY_NAMESPACE", "Upper"),
        ("GATEWAY_DRAIN_DELAY", "-1"),
        ("GATEWAY_DRAIN_DELAY", "soon"),
        ("GATEWAY_DRAIN_TIMEOUT", "-1s"),
        ("GATEWAY_DRAIN_TIMEOUT", "0"),
    ],
)
def test_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_config({name: value})


def test_workers_default_to_the_cpus_the_process_may_use() -> None:
    workers = load_config({}).workers
    assert workers == available_cpus()
    assert 1 <= workers <= len(os.sched_getaffinity(0))


def test_static_provider_needs_functions() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_STATIC_FUNCTIONS"):
        load_config({"GATEWAY_PROVIDER": "static"})


def test_config_is_frozen() -> None:
    config = load_config({})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("2.5", 2.5), ("2.5s", 2.5), ("500ms", 0.5), ("2m", 120.0), ("1m30s", 90.0),
     ("1h", 3600.0), ("1e3", 1000.0)],
)  # fmt: skip
def test_durations_are_go_style_or_seconds(raw: str, seconds: float) -> None:
    config = load_config({"GATEWAY_HOLD_TIMEOUT": raw, "GATEWAY_ASYNC_ACK_WAIT": raw})
    assert (config.scale_from_zero_timeout, config.async_calls.ack_wait) == (seconds, seconds)


@pytest.mark.parametrize("raw", ["0", "0s", "-1s", "2 m", "2d"])
def test_durations_are_above_zero(raw: str) -> None:
    with pytest.raises(
        ConfigError, match=f"^GATEWAY_DNS_TTL: expected a duration .*, got '{raw}'$"
    ):
        load_config({"GATEWAY_DNS_TTL": raw})


def test_the_drain_settings_are_read() -> None:
    assert (GatewayConfig().drain_delay, GatewayConfig().drain_timeout) == (3.0, 30.0)
    config = load_config({"GATEWAY_DRAIN_DELAY": "500ms", "GATEWAY_DRAIN_TIMEOUT": "1m"})
    assert (config.drain_delay, config.drain_timeout) == (0.5, 60.0)
    # 0 switches the first phase (/healthz at 503, still serving) off.
    assert load_config({"GATEWAY_DRAIN_DELAY": "0"}).drain_delay == 0.0


def test_a_negative_drain_delay_is_refused_naming_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"^GATEWAY_DRAIN_DELAY: expected a duration .*, 0 or more, got '-2s'$"
    ):
        load_config({"GATEWAY_DRAIN_DELAY": "-2s"})


def test_the_async_queue_bounds_are_read() -> None:
    names = {
        "GATEWAY_ASYNC_QUEUE_MAX_CALLS": "queue_max_calls",
        "GATEWAY_ASYNC_QUEUE_MAX_BYTES": "queue_max_bytes",
        "GATEWAY_ASYNC_FUNCTION_MAX_CALLS": "function_max_calls",
        "GATEWAY_ASYNC_DLQ_MAX_CALLS": "dead_letter_max_calls",
        "GATEWAY_ASYNC_DLQ_MAX_BYTES": "dead_letter_max_bytes",
        "GATEWAY_ASYNC_STATUS_MAX_BYTES": "status_max_bytes",
    }
    config = load_config({name: str(n + 7) for n, name in enumerate(names)}).async_calls
    assert [getattr(config, field) for field in names.values()] == list(range(7, 13))
    for name in names:
        for bad in ("0", "-1", "lots"):
            with pytest.raises(ConfigError, match=f"^{name}: "):
                load_config({name: bad})
