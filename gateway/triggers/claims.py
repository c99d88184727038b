"""`TickClaims`: a `mode=sync` tick is called at most once, whichever scheduler fires it.

An async tick is exactly once through the calls stream's de-duplication (its message id
is the tick's key). A sync tick is an HTTP call made at once, with nothing to de-duplicate
it downstream: a leader change in the middle of a tick (the old leader still firing as
the new one takes over and catches the tick up) could call the function twice. So the
scheduler first **claims** the tick in a JetStream key-value bucket (`create`: it fails if
the key exists) and calls only if its claim was first. A claim is kept `CLAIM_TTL`, well
past any leader change. A scheduler that dies between its claim and its call loses that
tick: at most once, the only promise a plain HTTP call can keep.

When the broker cannot answer, the tick is called anyway (logged by the caller): a sync
trigger does not stop because the async path's broker is away.
"""

from __future__ import annotations

import hashlib

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from gateway.async_calls.connection import BrokerConnection
from gateway.errors import BrokerUnavailable

CLAIMS_BUCKET = "faas_trigger_claims"
CLAIM_TTL = 600.0
"""Seconds a claim is kept: longer than a lease's term plus the catch-up of a new leader."""
CLAIMS_MAX_BYTES = 64 * 1024**2
"""The bucket's bound (a claim is about 150 bytes): full, a claim cannot be made."""


def claim_key(function: str, key: str) -> str:
    """The bucket key of one firing's claim (a digest: KV keys allow few characters)."""
    return hashlib.sha256(f"{function}\n{key}".encode()).hexdigest()


class TickClaims:
    """Claims of sync ticks in `CLAIMS_BUCKET`, over `connection`."""

    def __init__(self, connection: BrokerConnection, ttl: float = CLAIM_TTL) -> None:
        self._connection = connection
        self._ttl = ttl
        self._bucket: KeyValue | None = None
        connection.on_connect(self._set_up)

    async def _set_up(self, js: JetStreamContext) -> None:
        await self._ensure_bucket(js)

    async def _ensure_bucket(self, js: JetStreamContext) -> KeyValue:
        try:
            self._bucket = await js.key_value(CLAIMS_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            self._bucket = await js.create_key_value(
                KeyValueConfig(
                    bucket=CLAIMS_BUCKET,
                    history=1,
                    ttl=self._ttl,
                    storage=StorageType.FILE,
                    max_bytes=CLAIMS_MAX_BYTES,
                )
            )
        return self._bucket

    async def claim(self, function: str, key: str) -> bool:
        """Whether this is the first claim of `function`'s firing `key`;
        `BrokerUnavailable` when the broker cannot tell."""
        try:
            # Made after the broker connected, these claims have no bucket yet.
            bucket = self._bucket or await self._ensure_bucket(self._connection.jetstream())
            await bucket.create(claim_key(function, key), b"")
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except (nats.errors.Error, TimeoutError) as error:
            raise BrokerUnavailable(f"message broker unavailable: claim: {error!r}") from error
        return True
