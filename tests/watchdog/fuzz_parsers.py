"""The parsers the differential fuzzer compares, each turned into an `Outcome`: the messages
it sees in a byte stream and how the stream ends for it.

- `watchdog_outcome`: the watchdog's parser driven as its server drives it
  (fwatchdog/server.py: `readuntil` CRLFCRLF, `parse_head`, then the body as the runners
  read it, `iter_body`).
- `httptools_outcome`: httptools (llhttp), the gateway's parser, set up as uvicorn sets it up.
- `h11_outcome`: h11, a second, independent reference.

`disagreement` is the property: what the watchdog accepts, a reference accepts too, framed
the same way; what a reference accepts and the watchdog does not, the watchdog refuses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import h11
import httptools
from fwatchdog.http1.parser import HTTPError, iter_body, parse_head

HEAD_LIMIT = 65536
"""The watchdog's default max_header_bytes (its StreamReader's limit)."""


@dataclass(frozen=True)
class Message:
    """One request as a parser delimits it."""

    method: bytes
    target: bytes
    body: bytes


@dataclass
class Outcome:
    """What a parser made of a stream: its messages, then how it stopped.

    `end` is "eof" (a clean end between messages), "closed" (a message asked to close the
    connection: nothing after it is read), "refused" (an error answer), "incomplete-head"
    or "incomplete-body" (the stream ended inside a message).
    """

    messages: list[Message] = field(default_factory=list)
    end: str = "eof"
    pending_head: bytes = b""


async def _watchdog_messages(stream: bytes, out: Outcome) -> None:
    reader = asyncio.StreamReader(limit=HEAD_LIMIT)
    reader.feed_data(stream)
    reader.feed_eof()
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            out.end = "incomplete-head" if exc.partial else "eof"
            out.pending_head = exc.partial
            return
        except asyncio.LimitOverrunError:
            out.end = "refused"
            return
        try:
            req = parse_head(head)
            if req.chunked:
                body = b"".join([d async for d in iter_body(reader, True, None)])
            elif req.content_length:
                body = b"".join([d async for d in iter_body(reader, False, req.content_length)])
            else:
                body = b""
        except HTTPError:
            out.end = "refused"
            return
        except asyncio.IncompleteReadError:
            out.end = "incomplete-body"
            return
        out.messages.append(Message(req.method.encode(), req.target.encode("latin-1"), body))
        if not req.keep_alive:
            out.end = "closed"
            return


def watchdog_outcome(runner: asyncio.Runner, stream: bytes) -> Outcome:
    """The watchdog's parser on `stream` (run on `runner`'s event loop)."""
    out = Outcome()
    runner.run(_watchdog_messages(stream, out))
    return out


class _HttptoolsRecorder:
    """httptools callbacks that collect messages."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        # As uvicorn's HttpToolsProtocol does (gateway/http_limits.py subclasses it).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.messages: list[tuple[Message, bool]] = []
        self.target = b""
        self.body = b""
        self.started = False

    def on_message_begin(self) -> None:
        self.target, self.body, self.started = b"", b"", True

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        message = Message(self.parser.get_method(), self.target, self.body)
        self.messages.append((message, self.parser.should_keep_alive()))
        self.started = False


def httptools_outcome(stream: bytes) -> Outcome:
    """httptools (the gateway's parser) on `stream`."""
    recorder = _HttptoolsRecorder()
    end = "eof"
    try:
        recorder.parser.feed_data(stream)
        if recorder.started:
            end = "incomplete-body"
    except httptools.HttpParserUpgrade:
        end = "closed"
    except httptools.HttpParserError:
        end = "refused"
    out = Outcome(end=end)
    for message, keep_alive in recorder.messages:
        out.messages.append(message)
        if not keep_alive:
            out.end = "closed"
            break
    return out


def h11_outcome(stream: bytes) -> Outcome:
    """h11 (a server connection) on `stream`."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    conn.receive_data(stream)
    conn.receive_data(b"")
    out = Outcome()
    method = target = b""
    body: list[bytes] = []
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                method, target, body = event.method, event.target, []
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                out.messages.append(Message(method, target, b"".join(body)))
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE:
                    out.end = "closed"
                    return out
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return out
            else:
                raise AssertionError(f"h11 needs data after EOF: {event!r}")
    except h11.RemoteProtocolError:
        out.end = "refused"
        return out


def disagreement(
    watchdog: Outcome, references: dict[str, Outcome], completed: Outcome
) -> str | None:
    """The property, or what breaks it. `completed` is the watchdog's outcome on the same
    stream followed by an empty line (CRLFCRLF).

    1. Every message the watchdog delivers, some reference delivers too (the watchdog is
       never laxer than both), and no reference delivers it differently (method, target,
       body: where it ends).
    2. Where a reference delivers more messages than the watchdog, the watchdog refuses
       the next one (an error answer, or a connection it closes as asked): being stricter
       is allowed, delimiting a message otherwise is not. Where the watchdog still waits
       for the end of a head or body (line endings that are not CRLF), it refuses the
       message once an empty line follows.
    """
    for index, message in enumerate(watchdog.messages):
        seen = [name for name, ref in references.items() if index < len(ref.messages)]
        if not seen:
            return f"message {index} accepted by the watchdog, refused by every reference"
        for name in seen:
            if references[name].messages[index] != message:
                return f"message {index}: {name} sees {references[name].messages[index]!r}"
    most = max(len(ref.messages) for ref in references.values())
    waits = watchdog.end.startswith("incomplete")
    refused_once_completed = completed.end == "refused" and completed.messages == watchdog.messages
    stricter = watchdog.end in ("refused", "closed") or (waits and refused_once_completed)
    if most > len(watchdog.messages) and not stricter:
        return f"a reference sees {most} messages, the watchdog {len(watchdog.messages)}"
    return None
