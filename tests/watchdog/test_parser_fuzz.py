"""Differential fuzzing of the watchdog's HTTP/1.1 parser against httptools (the gateway's
parser) and h11: generated request streams (fuzz_streams.py) must be delimited alike, or
refused by the watchdog (the property: fuzz_parsers.disagreement). docs/security.md,
"Fuzzing the HTTP chain", has the figures and the cases found."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import given, settings

from tests.watchdog.fuzz_parsers import (
    disagreement,
    h11_outcome,
    httptools_outcome,
    watchdog_outcome,
)
from tests.watchdog.fuzz_streams import (
    FUZZ_SETTINGS,
    PARSER_EXAMPLES,
    SMUGGLED,
    request_stream,
)


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def check(runner: asyncio.Runner, stream: bytes) -> None:
    references = {"httptools": httptools_outcome(stream), "h11": h11_outcome(stream)}
    watchdog = watchdog_outcome(runner, stream)
    completed = watchdog_outcome(runner, stream + b"\r\n\r\n")
    problem = disagreement(watchdog, references, completed)
    assert problem is None, f"{problem}\nwatchdog: {watchdog}\nreferences: {references}"


@settings(FUZZ_SETTINGS, max_examples=PARSER_EXAMPLES)
@given(stream=request_stream())
def test_watchdog_parser_agrees_with_references_or_refuses(
    runner: asyncio.Runner, stream: bytes
) -> None:
    check(runner, stream)


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

FOUND = {
    # Repeated Content-Length values, even equal: httptools refuses them, h11 takes them
    # as one; with HTTP/1.0 keep-alive (which h11 does not keep) the watchdog went on to
    # a second message no reference delivered. It now refuses them, as httptools does.
    "two_equal_lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Content-Length: 1\r\n\r\na",
    "http10_keep_alive_two_equal_lengths": b"POST / HTTP/1.0\r\nHost: x\r\n"
    b"Content-Length: 35\r\nContent-Length: 35\r\nConnection: keep-alive\r\n\r\n"
    + SMUGGLED
    + b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
    # Whitespace between a chunk size and its extension or line end: httptools and h11
    # refuse it, the watchdog used to skip it, so a front end that passes it on framed the
    # body otherwise than the watchdog.
    "tab_before_chunk_extension": CHUNKED_HEAD + b"23\t;a\r\n" + SMUGGLED + b"\r\n0\r\n\r\n",
    "space_after_chunk_size": CHUNKED_HEAD + b"5 \r\n0\r\n\r\n\r\n0\r\n\r\n",
    "tab_after_chunk_size": CHUNKED_HEAD + b"2\t\r\nab\r\n0\r\n\r\n",
    "tab_after_last_chunk": CHUNKED_HEAD + b"0\t;x\r\n\r\n",
    # Two Host fields (RFC 9112, 3.2: a server answers 400): h11 refuses them, httptools
    # refuses the repeated Content-Length, the watchdog took both.
    "two_hosts_two_lengths": b"POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 35\r\n"
    b"Content-Length: 35\r\n\r\n" + SMUGGLED,
    "two_hosts": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    # Framing fields in trailers (RFC 9110, 6.5.1): httptools refuses them, h11 a repeated
    # Transfer-Encoding; the watchdog dropped them.
    "transfer_encoding_trailers": CHUNKED_HEAD + b"0\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    "content_length_trailers": CHUNKED_HEAD + b"0\r\nContent-Length: 5\r\n"
    b"Content-Length: 5\r\n\r\n",
}
"""Disagreements the fuzzer found, each fixed in the watchdog's parser: it refuses them."""

AGREED = {
    # h11 ends a trailer section at a bare LF; the watchdog waits for CRLF and refuses the
    # line once it comes (the property's rule for streams the watchdog still waits on).
    "trailers_end_with_lf": CHUNKED_HEAD + b"3\r\nabc\r\n0\r\n\n\r",
}
"""Streams where a reference differs from another or from the watchdog within the rules."""


@pytest.mark.parametrize("stream", FOUND.values(), ids=FOUND.keys())
def test_found_disagreement_is_refused(runner: asyncio.Runner, stream: bytes) -> None:
    outcome = watchdog_outcome(runner, stream)
    assert (outcome.messages, outcome.end) == ([], "refused")
    check(runner, stream)


@pytest.mark.parametrize("stream", AGREED.values(), ids=AGREED.keys())
def test_difference_within_the_rules(runner: asyncio.Runner, stream: bytes) -> None:
    check(runner, stream)
