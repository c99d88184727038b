"""`python -m gateway.triggers`' loop (`run_triggers`) in-process: a per-second schedule
queues a call per tick on a real nats-server, and the service serves its metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.request

import httpx
import pytest

from gateway.async_calls.enqueue import call_id_for
from gateway.config import ConfigError, GatewayConfig
from gateway.providers.base import Function
from gateway.triggers.__main__ import Firer, MqttSettings, main, mqtt_settings, run_triggers
from gateway.triggers.annotations import parse_triggers
from gateway.triggers.firing import tick_firing
from tests.gateway.async_calls.harness import async_config, connected_broker
from tests.gateway.harness import BackgroundProcess
from tests.support import free_port


def test_a_per_second_schedule_queues_calls_and_counts_them(
    nats_server: BackgroundProcess,
) -> None:
    function = Function(
        "tick", "faas/tick", 1, "127.0.0.1:9", labels={"com.faas.trigger.t.schedule": "* * * * * *"}
    )
    config = GatewayConfig(
        provider="static", static_functions=(function,), async_calls=async_config(nats_server.port)
    )
    port = free_port()

    async def scenario() -> tuple[int, str]:
        stop = asyncio.Event()
        running = asyncio.create_task(run_triggers(config, port, stop))
        async with connected_broker(config.async_calls) as broker:
            queued = 0
            for _ in range(200):  # until three ticks are queued (about 3 s)
                queued = sum((await broker.queue.pending()).values())
                if queued >= 3:
                    break
                await asyncio.sleep(0.1)
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        )
        stop.set()
        await running
        return queued, metrics

    queued, metrics = asyncio.run(scenario())
    assert queued >= 3
    assert 'gateway_trigger_fired_total{function_name="tick",trigger="t"}' in metrics
    assert "gateway_trigger_lag_seconds_bucket" in metrics


def test_mqtt_is_followed_only_when_a_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_TRIGGERS_MQTT_URL", raising=False)
    assert mqtt_settings() is None
    monkeypatch.setenv("GATEWAY_TRIGGERS_MQTT_URL", "mqtt://mosquitto:1883")
    assert mqtt_settings() == MqttSettings("mqtt://mosquitto:1883", "faas-triggers")
    monkeypatch.setenv("GATEWAY_TRIGGERS_MQTT_CLIENT_ID", "edge-1")
    assert mqtt_settings() == MqttSettings("mqtt://mosquitto:1883", "edge-1")
    monkeypatch.setenv("GATEWAY_TRIGGERS_MQTT_URL", "http://mosquitto")
    with pytest.raises(ConfigError, match="GATEWAY_TRIGGERS_MQTT_URL: 'http://mosquitto'"):
        mqtt_settings()


def test_a_bad_port_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("GATEWAY_TRIGGERS_PORT", "port")
    assert main() == 2
    assert "GATEWAY_TRIGGERS_PORT: 'port' is not a port" in capsys.readouterr().err


def test_a_ticks_sync_and_async_firings_keep_their_order(nats_server: BackgroundProcess) -> None:
    labels = {"com.faas.trigger.t.schedule": "* * * * * *"}
    sync = parse_triggers({**labels, "com.faas.trigger.t.mode": "sync"})[0][0]
    queued = parse_triggers(labels)[0][0]
    calls = dataclasses.replace(async_config(nats_server.port), gateway_url="http://127.0.0.1:9")
    config = GatewayConfig(provider="static", async_calls=calls)

    async def scenario() -> list[object]:
        async with connected_broker(calls) as broker, httpx.AsyncClient() as client:
            firer = Firer(config, broker, client)
            tick = [tick_firing("a", queued, 1.0e9), tick_firing("b", sync, 1.0e9)]
            await firer.prepare(tick)
            return await firer.many([*tick, tick_firing("c", queued, 1.0e9)])

    outcomes = asyncio.run(scenario())
    # The queued ones get their call ids; the sync one found no gateway (logged, None).
    assert outcomes == [call_id_for("a", "faas-trigger/t/1000000000"), None,
                        call_id_for("c", "faas-trigger/t/1000000000")]  # fmt: skip


def test_a_sync_tick_fired_by_two_schedulers_is_called_once(
    nats_server: BackgroundProcess,
) -> None:
    """A leader change mid-tick: both schedulers fire it; the first claim calls."""
    sync = parse_triggers({"com.faas.trigger.t.schedule": "* * * * * *",
                           "com.faas.trigger.t.mode": "sync"})[0][0]  # fmt: skip
    calls = dataclasses.replace(async_config(nats_server.port), gateway_url="http://gateway")
    config = GatewayConfig(provider="static", async_calls=calls)
    called: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        called.append(request.url.path)
        return httpx.Response(200)

    async def scenario() -> list[list[object]]:
        transport = httpx.MockTransport(gateway)
        async with (
            connected_broker(calls) as first, connected_broker(calls) as second,
            httpx.AsyncClient(transport=transport) as client,
        ):  # fmt: skip
            firers = [Firer(config, broker, client) for broker in (first, second)]
            tick = [tick_firing("a", sync, 2.0e9)]
            return list(await asyncio.gather(*(firer.many(tick) for firer in firers)))

    outcomes = asyncio.run(scenario())
    assert called == ["/function/a"]
    assert sorted(outcomes, key=str) == [[200], [None]]
