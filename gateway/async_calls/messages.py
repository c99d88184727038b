"""A queued call as a JetStream message, and the status record kept for it by id.

A call's request travels as the message: the body is the payload, everything else is in
NATS headers (`Faas-*`), so the consumer can rebuild the request byte for byte and a
dead-lettered copy carries the same request plus why it failed.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

CALL_SUBJECT_PREFIX = "faas.async.call."
DEAD_SUBJECT_PREFIX = "faas.async.dead."

_SUBJECT_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
CALL_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Call ids the gateway makes (uuids); the only ones the status and DLQ endpoints accept."""

MAX_ERROR_CHARS = 500
"""A dead-lettered copy's `Faas-Error` is cut to this many bytes (ASCII, escaped)."""
DEAD_LETTER_ALLOWANCE = 1024
"""Bytes a call's message may grow by when it is dead-lettered (`Faas-Error` at most
`MAX_ERROR_CHARS`, `Faas-Attempts`, `Faas-Status`): a call is accepted only if its
dead-lettered copy would still fit the server's `max_payload` too."""

State = Literal["queued", "running", "succeeded", "failed"]


def subject_token(function_name: str) -> str:
    """A function's name as one subject token (characters a token cannot hold: `_`)."""
    return _SUBJECT_UNSAFE.sub("_", function_name)


def call_subject(function_name: str) -> str:
    """The subject a function's queued calls are published on (one token per function)."""
    return CALL_SUBJECT_PREFIX + subject_token(function_name)


def dead_subject(call_id: str) -> str:
    """The dead-letter subject of one call (one message per call id)."""
    return DEAD_SUBJECT_PREFIX + call_id


@dataclass(frozen=True)
class QueuedCall:
    """One accepted async call: what the function gets, and where its result goes."""

    call_id: str
    function: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    started_at: float
    callback_url: str | None = None
    client_address: str | None = None
    # Set on a dead-lettered copy only: why it failed, and after how many attempts.
    error: str | None = None
    attempts: int = 0
    last_status: int | None = None
    # Set when read from the dead-letter stream: that copy's sequence there.
    sequence: int | None = None

    def nats_headers(self) -> dict[str, str]:
        """The message's NATS headers (everything but the body)."""
        headers = {
            "Faas-Call-Id": self.call_id,
            "Faas-Function": self.function,
            "Faas-Method": self.method,
            "Faas-Path": self.path,
            # Fixed width: the size a message is checked at must not change on a retry.
            "Faas-Start-Time": f"{self.started_at:.6f}",
            "Faas-Headers": json.dumps(self.headers, separators=(",", ":")),
        }
        if self.callback_url:
            headers["Faas-Callback-Url"] = self.callback_url
        if self.client_address:
            headers["Faas-Client"] = self.client_address
        if self.error is not None:
            error = self.error.replace("\r", " ").replace("\n", " ")
            error_bytes = error.encode("ascii", "backslashreplace")[:MAX_ERROR_CHARS]
            headers["Faas-Error"] = error_bytes.decode("ascii")
            headers["Faas-Attempts"] = str(self.attempts)
            if self.last_status is not None:
                headers["Faas-Status"] = str(self.last_status)
        return headers

    @classmethod
    def from_nats(
        cls, headers: Mapping[str, str] | None, body: bytes, sequence: int | None = None
    ) -> QueuedCall:
        """Rebuild a call from a message (`sequence`: its place in the dead-letter
        stream, when read from there); `ValueError` if the message is not one."""
        if not headers:
            raise ValueError("a message without headers")
        try:
            pairs = json.loads(headers["Faas-Headers"])
            status = headers.get("Faas-Status")
            return cls(
                call_id=headers["Faas-Call-Id"],
                function=headers["Faas-Function"],
                method=headers["Faas-Method"],
                path=headers["Faas-Path"],
                headers=tuple((str(name), str(value)) for name, value in pairs),
                body=body,
                started_at=float(headers["Faas-Start-Time"]),
                callback_url=headers.get("Faas-Callback-Url") or None,
                client_address=headers.get("Faas-Client") or None,
                error=headers.get("Faas-Error"),
                attempts=int(headers.get("Faas-Attempts", "0")),
                last_status=int(status) if status else None,
                sequence=sequence,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a queued call: {error!r}") from None

    def dead(self, error: str, attempts: int, last_status: int | None) -> QueuedCall:
        """This call as it is dead-lettered."""
        return replace(self, error=error, attempts=attempts, last_status=last_status)

    def requeued(self) -> QueuedCall:
        """A dead-lettered call as it is queued again (redrive)."""
        return replace(self, error=None, attempts=0, last_status=None, sequence=None)


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered call as listed: the call without its body, and the body's size."""

    call: QueuedCall
    body_bytes: int


@dataclass(frozen=True)
class DeadLetterPage:
    """A page of the dead-letter queue; `next`: the `after` of the next page, if any."""

    calls: list[DeadLetter]
    next: int | None


def message_size(headers: Mapping[str, str], body: bytes) -> int:
    """The bytes a message takes against the server's `max_payload`: its header block as
    nats-py writes it (`NATS/1.0`, one `Name: value` line each, a blank line) and body."""
    lines = sum(len(name) + len(value.strip().encode()) + 4 for name, value in headers.items())
    return len(b"NATS/1.0\r\n") + lines + 2 + len(body)


@dataclass
class CallStatus:
    """What `GET /system/async/<call-id>` answers: the call's state and its result."""

    callId: str
    function: str
    state: State
    attempt: int = 0
    status: int | None = None
    durationSeconds: float | None = None
    body: str | None = None
    bodyBase64: str | None = None
    bodyTruncated: bool = False
    error: str | None = None
    deadLettered: bool = False
    callbackStatus: int | None = None
    # With `X-Idempotency-Key`: the digest of the call the key was first used for
    # (`enqueue.call_fingerprint`); not part of the status API's answer.
    fingerprint: str | None = None
    queuedAt: float = field(default_factory=time.time)
    updatedAt: float = field(default_factory=time.time)

    def encode(self) -> bytes:
        """The record as stored (JSON)."""
        self.updatedAt = time.time()
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> CallStatus:
        """A stored record; `ValueError` if it is not one."""
        try:
            fields: dict[str, Any] = json.loads(data)
            return cls(**fields)
        except (TypeError, ValueError) as error:
            raise ValueError(f"not a call status: {error}") from None

    def set_body(self, body: bytes, limit: int, total: int | None = None) -> None:
        """Keep the start of a result body: as text when it is UTF-8, else as base64."""
        kept = body[:limit]
        self.bodyTruncated = len(body) > limit or (total is not None and total > len(kept))
        try:
            self.body, self.bodyBase64 = kept.decode("utf-8"), None
        except UnicodeDecodeError:
            self.body, self.bodyBase64 = None, base64.b64encode(kept).decode("ascii")
