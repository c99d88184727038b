"""`python -m gateway.triggers`: the trigger scheduler, a service of its own (`triggers`
in stack.yml, the gateway's image with another command, as the queue worker).

It reads the gateway's configuration (provider, `GATEWAY_NATS_URL` and the other
`GATEWAY_ASYNC_*`), serves its metrics and health (`/metrics`, `/healthz`: 503 while it
has no broker connection) on `GATEWAY_TRIGGERS_PORT` and fires the functions' schedules
and delivers the messages of the topics they name (NATS; MQTT with
`GATEWAY_TRIGGERS_MQTT_URL`) until SIGTERM or SIGINT. Several replicas may run: one
fires the schedules (the lease, in the labels of its own service on Swarm), the others
stand by; all share the topics' messages (docs/triggers.md).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from gateway.assembly import build_provider, configure_logging, run_until_signalled
from gateway.async_calls.broker import Broker
from gateway.async_calls.monitoring import MonitoringServer
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.errors import BrokerUnavailable
from gateway.providers.base import FunctionProvider, LeaderLease, NoLease
from gateway.triggers.claims import TickClaims
from gateway.triggers.connectors import Connector, TopicRouter
from gateway.triggers.firing import CONNECTOR, Firing, FiringQueue, queue_firing
from gateway.triggers.metrics import TriggerMetrics
from gateway.triggers.mqtt_source import DEFAULT_CLIENT_ID, MqttConnector, broker_address
from gateway.triggers.nats_source import NatsConnector
from gateway.triggers.scheduler import FIRE_CONCURRENCY, LEASE_TERM, CronScheduler

log = logging.getLogger("gateway.triggers")

DEFAULT_PORT = 8082
"""`GATEWAY_TRIGGERS_PORT`'s default: where `/metrics` and `/healthz` are served."""
LEASE_LABELS = ("com.faas.triggers.holder", "com.faas.triggers.expires")
SYNC_TIMEOUT = 60.0
"""Seconds a `mode=sync` firing waits for the function's answer."""


def triggers_lease(config: GatewayConfig, provider: FunctionProvider) -> LeaderLease:
    """The scheduler's lease: in its own Swarm service's labels, none outside Swarm."""
    if config.provider != "swarm":
        return NoLease()
    from gateway.providers.swarm import SwarmProvider
    from gateway.providers.swarm.lease import SwarmLease

    if isinstance(provider, SwarmProvider):
        return SwarmLease(provider.client, term=LEASE_TERM, labels=LEASE_LABELS)
    return NoLease()


class Firer:
    """Queues a firing (`mode=async`), or calls the function through the gateway and
    forgets the answer (`mode=sync`, as OpenFaaS's connectors do; a tick's sync call
    only if this scheduler's claim of it was first: `gateway.triggers.claims`)."""

    def __init__(self, config: GatewayConfig, broker: Broker, client: httpx.AsyncClient) -> None:
        self._config = config
        self._broker = broker
        self._client = client
        self._queue = FiringQueue(broker, config.async_calls)
        self._claims = TickClaims(broker)

    async def __call__(self, firing: Firing) -> object:
        if firing.trigger.mode == "async":
            return await queue_firing(self._broker, self._config.async_calls, firing)
        url = f"{self._config.async_calls.gateway_url.rstrip('/')}/function/{firing.function}"
        credentials = self._config.basic_auth
        headers = dict(firing.headers)
        if self._config.invoke_auth and credentials is not None:
            pair = f"{credentials.user}:{credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            reply = await self._client.post(
                url, content=firing.body, headers=headers, timeout=SYNC_TIMEOUT
            )
        except httpx.HTTPError as error:
            log.warning("%s: sync firing of %s failed: %r", CONNECTOR, firing.function, error)
            return None
        log.info("%s: %s answered %d", CONNECTOR, firing.function, reply.status_code)
        return reply.status_code

    async def _first_claim(self, firing: Firing) -> bool:
        """Whether this scheduler's claim of a sync tick is the first (True, logged, when
        the broker cannot tell: a sync trigger does not wait for the async path)."""
        try:
            return await self._claims.claim(firing.function, firing.key)
        except BrokerUnavailable as error:
            log.warning("%s: tick %s of %s called unclaimed: %s", CONNECTOR, firing.key,
                        firing.function, error.message)  # fmt: skip
            return True

    async def prepare(self, firings: Sequence[Firing]) -> None:
        """Ready the async ones of `firings`, a tick to come (`FiringQueue.prepare`)."""
        await self._queue.prepare([f for f in firings if f.trigger.mode == "async"])

    async def many(self, firings: Sequence[Firing]) -> list[object]:
        """Fire `firings` at once (a cron tick's): the async ones queued as one batch
        (`FiringQueue.queue`), the sync ones called up to `FIRE_CONCURRENCY` at a time; per
        firing, in order, its outcome (a `GatewayError` if it was not queued)."""
        queued = [firing for firing in firings if firing.trigger.mode == "async"]
        outcomes = iter(await self._queue.queue(queued))
        limit = asyncio.Semaphore(FIRE_CONCURRENCY)

        async def call(firing: Firing) -> object:
            async with limit:
                if not await self._first_claim(firing):
                    log.info("%s: tick %s of %s called already (another scheduler)",
                             CONNECTOR, firing.key, firing.function)  # fmt: skip
                    return None
                return await self(firing)

        called = iter(
            await asyncio.gather(*(call(f) for f in firings if f.trigger.mode != "async"))
        )
        return [next(outcomes if f.trigger.mode == "async" else called) for f in firings]


async def run_triggers(
    config: GatewayConfig, port: int, stop: asyncio.Event, mqtt: MqttSettings | None = None
) -> None:
    """Run the scheduler and the connectors with the provider `config` names until
    `stop` is set (`mqtt`: the MQTT broker's URL and client id, if any)."""
    provider = build_provider(config)
    metrics = TriggerMetrics()
    broker = Broker(config.async_calls, name="faas-triggers")
    monitoring = MonitoringServer(
        port, metrics.registry, lambda: None if broker.ready else broker.problem or "not connected"
    )
    monitoring.start()
    await provider.start()
    try:
        await broker.start()
        async with httpx.AsyncClient() as client:
            fire = Firer(config, broker, client)
            scheduler = CronScheduler(
                provider.functions,
                fire,
                triggers_lease(config, provider),
                metrics,
                fire_many=fire.many,
                prepare=fire.prepare,
            )
            connectors: list[Connector] = [NatsConnector(broker)]
            if mqtt is not None:
                connectors.append(
                    MqttConnector(
                        mqtt.url,
                        client_id=mqtt.client_id,
                        leading=lambda: scheduler.leading,
                    )
                )
            try:
                await asyncio.gather(
                    scheduler.run(stop),
                    *(
                        TopicRouter(provider.functions, fire, metrics).run(connector, stop)
                        for connector in connectors
                    ),
                )
            finally:
                await broker.close()
    finally:
        await provider.close()
        monitoring.close()


@dataclass(frozen=True)
class MqttSettings:
    """`GATEWAY_TRIGGERS_MQTT_URL` and `GATEWAY_TRIGGERS_MQTT_CLIENT_ID`."""

    url: str
    client_id: str = DEFAULT_CLIENT_ID


def mqtt_settings() -> MqttSettings | None:
    """The MQTT broker to follow, if `GATEWAY_TRIGGERS_MQTT_URL` names one."""
    url = os.environ.get("GATEWAY_TRIGGERS_MQTT_URL", "").strip()
    if not url:
        return None
    try:
        broker_address(url)
    except ValueError as error:
        raise ConfigError(f"GATEWAY_TRIGGERS_MQTT_URL: {error}") from None
    client_id = os.environ.get("GATEWAY_TRIGGERS_MQTT_CLIENT_ID", "").strip()
    return MqttSettings(url, client_id or DEFAULT_CLIENT_ID)


def main() -> int:
    """Run until SIGTERM/SIGINT; 2 on a configuration error."""
    try:
        config = load_config()
        raw_port = os.environ.get("GATEWAY_TRIGGERS_PORT", "") or str(DEFAULT_PORT)
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigError(f"GATEWAY_TRIGGERS_PORT: {raw_port!r} is not a port")
        mqtt = mqtt_settings()
    except ConfigError as error:
        print(f"triggers: configuration error: {error}", file=sys.stderr)
        return 2
    if not config.async_calls.enabled:
        print("triggers: configuration error: GATEWAY_NATS_URL: required", file=sys.stderr)
        return 2
    configure_logging(config)

    log.info("triggers: %s", config.async_calls.nats_url)
    run_until_signalled(lambda stop: run_triggers(config, int(raw_port), stop, mqtt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
