"""`Broker`: the connection to NATS JetStream and the parts of async calls that use it.

One object per process, made by `create_app` and by the queue consumer's `__main__`:
the connection (`connection.BrokerConnection`: `start`, `close`, `ready`, `problem`), and
one attribute per job, each in its own module with the stream or bucket it owns:

- `queue` (`call_queue.CallQueue`): queue calls, and take them as a queue consumer;
- `dead_letters` (`dead_letters.DeadLetters`): the calls that failed for good;
- `presence` (`presence.ConsumerPresence`): which queue consumers run;
- `statuses` (`status_store.StatusStore`): each call's status record.

docs/async.md explains the design.
"""

from __future__ import annotations

from gateway.async_calls.call_queue import CallQueue
from gateway.async_calls.connection import BrokerConnection
from gateway.async_calls.dead_letters import DeadLetters
from gateway.async_calls.presence import ConsumerPresence
from gateway.async_calls.status_store import StatusStore
from gateway.config import AsyncConfig


class Broker(BrokerConnection):
    """The connection, with the parts that use it (their streams are put in place at
    every connection, in this order: calls, dead letters, presence, status bucket)."""

    def __init__(self, config: AsyncConfig, *, name: str) -> None:
        super().__init__(config, name=name)
        self.queue = CallQueue(self, config)
        self.dead_letters = DeadLetters(self, config)
        self.presence = ConsumerPresence(self, config)
        self.statuses = StatusStore(self, config)
