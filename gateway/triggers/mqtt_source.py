"""`MqttConnector`: MQTT topics as trigger topics (aiomqtt, on paho-mqtt), on the broker
`GATEWAY_TRIGGERS_MQTT_URL` names (`mqtt://host[:port]`; Mosquitto in the stack).

At least once from the broker: a persistent session (`clean_session=False`, client id
`GATEWAY_TRIGGERS_MQTT_CLIENT_ID`), QoS 1 subscriptions and manual acks: a message's
PUBACK is sent only once the calls of every function naming its topic are stored. One
the connector never acked (killed mid-stream, or the queue refused a call) is delivered
again by the broker when the session reconnects. MQTT gives a redelivery no id of its
own, so such a message may be stored twice (its calls carry the same body and
`X-Topic`).

One session for the platform, held by one connector at a time: the connector connects
only while `leading()` says so (the triggers service passes its scheduler's lease), and
leaves when it stops leading; the next leader resumes the same session, and the broker
keeps what arrives in between. Plain subscriptions, not shared ones
(`$share/<group>/<topic>`): Mosquitto 2.0 does not restore shared subscriptions from its
persistence file, so a broker restart silently dropped every message published before
the connector subscribed again (measured on the stack: 100 of 100). Wildcards
(`sensors/+/temp`, `#`) work as the broker matches them; a message matching several
followed topics is acked once every one of them is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import aiomqtt

from gateway.triggers.connectors import MAX_INFLIGHT_MESSAGES, BrokerMessage, queued_messages

log = logging.getLogger("gateway.triggers")

DEFAULT_PORT = 1883
DEFAULT_CLIENT_ID = "faas-triggers"
RECONNECT_SECONDS = 1.0
"""Between two connection attempts, and two looks at `leading()` while not leading."""


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of an `mqtt://host[:port]` URL; `ValueError` naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"{url!r} is not mqtt://host[:port]")
    return parts.hostname, parts.port or DEFAULT_PORT


class _Countdown:
    """Acks a message once every followed topic it matched has been delivered."""

    def __init__(self, times: int, ack: Callable[[], None]) -> None:
        self._left = times
        self._ack = ack

    async def ack(self) -> None:
        self._left -= 1
        if self._left == 0:
            self._ack()


async def _nothing() -> None:
    """MQTT has no negative ack: an unacked message comes back with the session."""


class MqttConnector:
    """A `Connector` on one MQTT broker."""

    kind = "mqtt"

    def __init__(
        self,
        url: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        max_inflight: int = MAX_INFLIGHT_MESSAGES,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._host, self._port = broker_address(url)
        self._leading = leading
        self._client_id = client_id
        self._max_inflight = max_inflight
        self._queue: asyncio.Queue[BrokerMessage | None] = asyncio.Queue(max_inflight)
        self._wanted: frozenset[str] = frozenset()
        self._subscribed: set[str] = set()
        self._client: aiomqtt.Client | None = None
        self._running: asyncio.Task[None] | None = None

    async def subscribe(self, topics: frozenset[str]) -> None:
        """See `Connector.subscribe` (connects on first use, and again when cut off)."""
        self._wanted = topics
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        await self._follow()

    def messages(self) -> AsyncIterator[BrokerMessage]:
        """See `Connector.messages`."""
        return queued_messages(self._queue)

    async def close(self) -> None:
        """See `Connector.close`: unacked messages stay in the broker's session."""
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _follow(self) -> None:
        client = self._client
        if client is None:  # subscribed at the next connection
            return
        for topic in sorted(self._wanted - self._subscribed):
            await client.subscribe(topic, qos=1)
            self._subscribed.add(topic)
        for topic in sorted(self._subscribed - self._wanted):
            await client.unsubscribe(topic)
            self._subscribed.discard(topic)

    async def _run(self) -> None:
        while True:
            if not self._leading():
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            client = aiomqtt.Client(
                self._host,
                self._port,
                identifier=self._client_id,
                clean_session=False,
                max_inflight_messages=self._max_inflight,
            )
            # aiomqtt does not pass paho's `manual_ack` on (tests/gateway/triggers/
            # test_mqtt_source.py fails if its paho client is no longer `_client`).
            client._client.manual_ack_set(True)
            try:
                async with client:
                    self._client, self._subscribed = client, set()
                    log.info("mqtt: connected to %s:%d", self._host, self._port)
                    await self._follow()
                    await _first_to_end(self._read(client), self._until_not_leading())
                    log.info("mqtt: no longer leading: leaving the session to the leader")
            except aiomqtt.MqttError as error:
                log.warning("mqtt: %s:%d: %s", self._host, self._port, error)
            finally:
                self._client = None
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._hand_over(client, message)

    async def _until_not_leading(self) -> None:
        # `leading()` is the scheduler's view of its lease, renewed every few seconds by
        # its own loop: a flag to look at, not an event to wait on.
        while self._leading():  # noqa: ASYNC110
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _hand_over(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        matched = [topic for topic in self._subscribed if message.topic.matches(topic)]
        payload = message.payload
        body = payload if isinstance(payload, bytes) else str(payload or "").encode()
        paho, mid, qos = client._client, message.mid, message.qos

        def ack() -> None:
            if qos > 0:
                paho.ack(mid, qos)

        if not matched:  # a topic no longer followed
            ack()
            return
        countdown = _Countdown(len(matched), ack)
        acked: Callable[[], Awaitable[None]] = countdown.ack
        for topic in matched:
            await self._queue.put(
                BrokerMessage(topic, message.topic.value, {}, body, None, acked, _nothing)
            )


async def _first_to_end(*work: Awaitable[None]) -> None:
    """Run `work` side by side until the first one ends (its error raised), the others
    cancelled."""
    tasks = [asyncio.ensure_future(each) for each in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
