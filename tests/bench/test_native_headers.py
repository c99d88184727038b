"""bench/native: the header path in C against the Python functions it replaces.

Differential: on generated inputs, the C function and the Python one give equal results,
or raise the same exception type with the same message. The module is built here: without a
C compiler or Python's headers these tests skip, but fail in CI (`tests.support.require_compiler`);
a compiler that refuses the source fails them.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from bench.native.build import load
from gateway.proxy import call_ids, headers
from gateway.proxy.http1 import request
from tests.support import require_compiler

UUID4 = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
CALLER_UUID = b"00000000-0000-4000-8000-000000000000"
"""A caller's id shaped like a new one: a C that made its own instead would be caught."""
DURATION = re.compile(rb"\A-?[0-9]+\.[0-9]{6}\Z")
EXAMPLES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ORDINARY = [b"user-agent", b"content-type", b"content-length", b"accept", b"x-trace", b"x-other"]
INTERACTING = [b"host", b"x-forwarded-for", b"x-call-id", b"x-faas-hops", b"connection", b"x-trace"]
"""Names whose headers change what other headers do (repeated, listed by Connection)."""
REQUEST_NAMES = sorted(headers._REQUEST_READ) + ORDINARY
RESPONSE_NAMES = sorted(headers._RESPONSE_DROPPED) + ORDINARY + [b"server", b"x-call-id"]
VALUES = [b"", b"a", b" ", b"1.2.3.4", CALLER_UUID, b"a\r\nb", b"\n", b"x\r", b"\xe9t\xe9", b"a,b"]
NOT_A_HOP_COUNT = [b"abc", b"-1", b"+1", b"1.5", b"\xb2", b"0x1", b"1 2", b"", b"\t", b"'\"\\"]
TEXT = st.text(alphabet=st.sampled_from("abc:/.19 é\xa0\x85\u0100\u20ac\r\n"), max_size=8)


@pytest.fixture(scope="module")
def native() -> ModuleType:
    return require_compiler(load)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a call gave: ("ok", result) or ("raised", type, message, args)."""
    try:
        return ("ok", function(*args, **kwargs))
    except Exception as error:
        return ("raised", type(error), str(error), error.args)


@st.composite
def mixed_case(draw: st.DrawFn, name: bytes) -> bytes:
    upper = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return bytes(
        c - 32 if flip and 97 <= c <= 122 else c for c, flip in zip(name, upper, strict=True)
    )


@st.composite
def token_list(draw: st.DrawFn) -> bytes:
    """A Connection value: names (hop-by-hop, ours, the caller's), any case, odd spacing."""
    token = st.one_of(
        st.sampled_from(INTERACTING), st.sampled_from([*REQUEST_NAMES, b"", b" ", b"server"])
    )
    names = draw(st.lists(token.flatmap(mixed_case), max_size=4))
    separator = draw(st.sampled_from([b",", b", ", b" ,\t", b",,"]))
    return separator.join(names)


HOP_COUNTS = st.one_of(
    st.from_regex(
        rb"\A[ \t\x0b\x0c\r\n]{0,2}0{0,3}[0-9]{0,6}[ \t\x0b\x0c\r\n\xa0]{0,2}\Z", fullmatch=True
    ),
    st.sampled_from(NOT_A_HOP_COUNT),
    st.binary(max_size=4),
)


@st.composite
def header(draw: st.DrawFn, names: list[bytes]) -> tuple[bytes, bytes]:
    """A header: a name (often one of those that interact; in its case, mixed or upper) or
    random bytes, and a value shaped for its name or not."""
    name = draw(
        st.one_of(
            st.sampled_from(INTERACTING),
            st.sampled_from(INTERACTING),
            st.sampled_from(names),
            st.binary(max_size=4),
        )
    )
    case = draw(st.sampled_from(["as is", "as is", "as is", "mixed", "upper"]))
    name = draw(mixed_case(name)) if case == "mixed" else name.upper() if case == "upper" else name
    generic = st.one_of(st.sampled_from(VALUES), st.binary(max_size=12))
    if name.lower() == b"connection":
        value = draw(st.one_of(token_list(), token_list(), generic))
    elif name.lower() == b"x-faas-hops":
        value = draw(st.one_of(HOP_COUNTS, generic))
    else:
        value = draw(generic)
    return name, value


def request_headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    return st.lists(header(REQUEST_NAMES), max_size=8)


def fresh_ids_masked(result: tuple[Any, ...], sent: list[tuple[bytes, bytes]]) -> tuple[Any, ...]:
    """`result` with a new call id replaced by a mark (two calls cannot draw the same one);
    an id the caller sent stays as it is."""
    if result[0] != "ok":
        return result
    out, call_id = result[1]
    if not UUID4.match(call_id) or any(value == call_id.encode() for _, value in sent):
        return result
    assert out[-1] == (b"X-Call-Id", call_id.encode())
    return ("ok", ([*out[:-1], (b"X-Call-Id", b"<new>")], "<new>"))


@EXAMPLES
@given(
    sent=request_headers(),
    upstream_host=st.one_of(st.just("echo:8080"), TEXT),
    client_address=st.one_of(st.none(), st.just("127.0.0.1"), TEXT),
    scheme=st.one_of(st.sampled_from(["http", "https"]), TEXT),
)
def test_forwarded_request_headers_are_the_pythons(
    native: ModuleType,
    sent: list[tuple[bytes, bytes]],
    upstream_host: str,
    client_address: str | None,
    scheme: str,
) -> None:
    where = {"upstream_host": upstream_host, "client_address": client_address, "scheme": scheme}
    ours = outcome(native.forwarded_request_headers, list(sent), **where)
    python = outcome(headers.forwarded_request_headers, list(sent), **where)
    assert fresh_ids_masked(ours, sent) == fresh_ids_masked(python, sent)


def test_a_call_without_an_id_gets_a_new_one(native: ModuleType) -> None:
    out, call_id = native.forwarded_request_headers(
        [(b"x-call-id", b"")], upstream_host="h", client_address=None, scheme="http"
    )
    assert UUID4.match(call_id)
    assert out[-1] == (b"X-Call-Id", call_id.encode())


WHERE = {"upstream_host": "h", "client_address": None, "scheme": "http"}


@pytest.mark.parametrize(
    "sent",
    [
        [(b"x-call-id", b""), (b"x-call-id", b"abc"), (b"x-call-id", b"def")],
        [(b"x-call-id", b""), (b"x-call-id", b"")],
        [(b"x-forwarded-for", b""), (b"x-forwarded-for", b"a"), (b"x-forwarded-for", b"")],
        [(b"host", b"a"), (b"host", b""), (b"Host", b"b")],
        [(b"host", b""), (b"host", b"a")],
        [
            (b"connection", b"x-call-id, X-Forwarded-For"),
            (b"x-call-id", b"a"),
            (b"x-forwarded-for", b"b"),
        ],
        [(b"connection", b"x-faas-hops"), (b"x-faas-hops", b"not a number")],
        [(b"connection", b"host,x-trace"), (b"host", b"a"), (b"x-trace", b"1"), (b"X-Trace", b"2")],
        [(b"Connection", b"x-trace"), (b"x-trace", b"1")],
        [(b"x-trace", b"1"), (b"CONNECTION", b"x-trace"), (b"connection", b"")],
        [(b"connection", b" , ,"), (b"x-trace", b"1")],
    ],
)
def test_headers_that_interact(native: ModuleType, sent: list[tuple[bytes, bytes]]) -> None:
    for client_address in (None, "10.0.0.1"):
        where = {**WHERE, "client_address": client_address}
        ours = outcome(native.forwarded_request_headers, sent, **where)
        python = outcome(headers.forwarded_request_headers, sent, **where)
        assert fresh_ids_masked(ours, sent) == fresh_ids_masked(python, sent)


@EXAMPLES
@given(counts=st.lists(HOP_COUNTS, min_size=1, max_size=3), others=request_headers())
def test_hop_counts_are_read_as_the_python_reads_them(
    native: ModuleType, counts: list[bytes], others: list[tuple[bytes, bytes]]
) -> None:
    sent = [(b"x-faas-hops", count) for count in counts] + others
    ours = outcome(native.forwarded_request_headers, sent, **WHERE)
    python = outcome(headers.forwarded_request_headers, sent, **WHERE)
    assert fresh_ids_masked(ours, sent) == fresh_ids_masked(python, sent)


@pytest.mark.parametrize(
    "count",
    [
        b"0",
        b"9",
        b"09",
        b"0000000009",
        b"10",
        b"9999",
        b"10000",
        b"00010000",
        b"99999999999",
        b" 5\x0b",
        b"\x0c3\r\n",
        b"\xa05",
        b"",
        b"  ",
        b"1e3",
        "\u0663".encode(),
        b"5\x00",
    ],
)
def test_hop_count_edges(native: ModuleType, count: bytes) -> None:
    sent = [(b"x-faas-hops", count)]
    ours = outcome(native.forwarded_request_headers, sent, **WHERE)
    python = outcome(headers.forwarded_request_headers, sent, **WHERE)
    assert fresh_ids_masked(ours, sent) == fresh_ids_masked(python, sent)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param(([(b"host", b"h")],), {}, id="keywords missing"),
        pytest.param(
            ([(b"host", b"h")], "h"), {"client_address": None, "scheme": "http"}, id="positional"
        ),
        pytest.param(((("x-faas-hops", "1"),),), WHERE, id="a tuple of text pairs"),
        pytest.param(([[b"x-faas-hops", b"12"]],), WHERE, id="a list of lists"),
        pytest.param(([(b"a", b"b"), "ab"],), WHERE, id="a str for a pair"),
        pytest.param(([(b"a", b"b", b"c")],), WHERE, id="a triple"),
        pytest.param(([(b"x-faas-hops", bytearray(b"3"))],), WHERE, id="a bytearray value"),
        pytest.param(([],), {**WHERE, "upstream_host": b"h"}, id="bytes for a host"),
        pytest.param(([],), {**WHERE, "scheme": "h\u0101"}, id="a scheme not latin-1"),
        pytest.param(([],), {**WHERE, "client_address": ""}, id="an empty client address"),
        pytest.param(
            ([(b"x-faas-hops", b"x")],),
            {**WHERE, "client_address": "\u20ac"},
            id="a bad hop count before a client address not latin-1",
        ),
        pytest.param(([],), {**WHERE, "extra": 1}, id="an unknown keyword"),
    ],
)
def test_odd_calls_of_forwarded_request_headers(
    native: ModuleType, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    ours = outcome(native.forwarded_request_headers, *args, **kwargs)
    python = outcome(headers.forwarded_request_headers, *args, **kwargs)
    assert fresh_ids_masked(ours, []) == fresh_ids_masked(python, [])


@EXAMPLES
@given(
    method=st.one_of(st.sampled_from(["GET", "POST", "HEAD", "PUT", "OPTIONS", "TRACE"]), TEXT),
    path=st.one_of(st.sampled_from(["/", "/path?q=1"]), TEXT),
    sent=st.lists(
        header([b"host", b"content-length", b"transfer-encoding", *ORDINARY]), max_size=6
    ),
    body=st.one_of(st.none(), st.binary(max_size=20)),
    streamed=st.booleans(),
)
def test_request_heads_are_the_pythons(
    native: ModuleType,
    method: str,
    path: str,
    sent: list[tuple[bytes, bytes]],
    body: bytes | None,
    streamed: bool,
) -> None:
    ours = outcome(native.request_head, method, path, list(sent), body, streamed)
    python = outcome(request.request_head, method, path, list(sent), body, streamed)
    assert ours == python


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            ("POST", "/", CIMultiDict({"Host": "h", "X-A": "é"}), b"ab", False), id="a CIMultiDict"
        ),
        pytest.param(
            ("POST", "/", CIMultiDict({"X-A": "a\r\n"}), None, False), id="CR in a CIMultiDict"
        ),
        pytest.param(
            ("GET", "/", [(b"host", b"a"), (b"Host", b"b\r\n")], None, False), id="a second host"
        ),
        pytest.param(("GET", "/\u0100", [], None, False), id="a path not latin-1"),
        pytest.param((b"GET", "/", [], None, False), id="bytes for a method"),
        pytest.param(("POST", "/", [], bytearray(b"ab"), False), id="a bytearray body"),
        pytest.param(("POST", "/", [], None, None), id="None for streamed"),
        pytest.param(("POST", "/", [], None, 1), id="an int for streamed"),
        pytest.param(("POST", "/", [[b"a", b"b"]], None, False), id="a list for a pair"),
        pytest.param(("POST", "/", []), id="too few arguments"),
    ],
)
def test_odd_calls_of_request_head(native: ModuleType, args: tuple[Any, ...]) -> None:
    assert outcome(native.request_head, *args) == outcome(request.request_head, *args)


def test_request_head_takes_keywords_as_the_python_does(native: ModuleType) -> None:
    where: dict[str, Any] = {
        "method": "POST",
        "path": "/",
        "headers": [],
        "body": b"x",
        "streamed": False,
    }
    assert native.request_head(**where) == request.request_head(**where)


def response_headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    return st.lists(header(RESPONSE_NAMES), max_size=8)


@EXAMPLES
@given(sent=response_headers(), call_id=st.one_of(st.just("id-1"), TEXT), as_tuple=st.booleans())
def test_response_headers_are_the_pythons(
    native: ModuleType, sent: list[tuple[bytes, bytes]], call_id: str, as_tuple: bool
) -> None:
    given_headers = tuple(sent) if as_tuple else list(sent)
    ours = outcome(native.downstream_response_headers, given_headers, call_id)
    assert ours == outcome(headers.downstream_response_headers, given_headers, call_id)


def timing_masked(result: tuple[Any, ...]) -> tuple[Any, ...]:
    """`result` with the duration's value replaced by a mark once its format is checked."""
    if result[0] != "ok" or not result[1] or result[1][-1][0] != b"x-duration-seconds":
        return result
    duration = result[1][-1][1]
    assert DURATION.match(duration), duration
    return ("ok", [*result[1][:-1], (b"x-duration-seconds", b"<duration>")])


@EXAMPLES
@given(
    sent=response_headers(),
    started_ns=st.one_of(
        st.integers(min_value=0, max_value=2**64),
        st.integers(min_value=-(2**63), max_value=-1),
        st.just(1_800_000_000_000_000_000),
    ),
)
def test_response_timing_is_the_pythons(
    native: ModuleType, sent: list[tuple[bytes, bytes]], started_ns: int
) -> None:
    ours = outcome(native.downstream_response_headers, list(sent), "id", started_ns)
    python = outcome(headers.downstream_response_headers, list(sent), "id", started_ns)
    assert timing_masked(ours) == timing_masked(python)


def test_a_duration_since_now_is_small_and_formatted(native: ModuleType) -> None:
    out = native.downstream_response_headers([], "id", time.time_ns())
    assert out[-2][0] == b"x-start-time"
    assert out[-1][0] == b"x-duration-seconds"
    assert DURATION.match(out[-1][1])
    assert not out[-1][1].startswith(b"-")


def raw_pairs() -> Iterator[tuple[bytes, bytes]]:
    yield (b"Server", b"x")
    yield (b"Connection", b"server")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((raw_pairs, "id"), {}, id="a generator"),
        pytest.param(([(b"A", b"b")], "id"), {"started_ns": 5}, id="started_ns by keyword"),
        pytest.param(([(b"A", b"b")], "id", True), {}, id="a bool for started_ns"),
        pytest.param(([(b"A", b"b")], "id", 1.5), {}, id="a float for started_ns"),
        pytest.param(([(b"A", b"b")], "\u0100"), {}, id="an id not latin-1"),
        pytest.param(([(b"A", b"b")], b"id"), {}, id="bytes for an id"),
        pytest.param(([("A", "b")], "id"), {}, id="text pairs"),
        pytest.param(([(b"A", b"b")],), {}, id="too few arguments"),
    ],
)
def test_odd_calls_of_downstream_response_headers(
    native: ModuleType, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    if args and callable(args[0]):
        args = (args[0](), *args[1:])
        python_args = (raw_pairs(), *args[1:])
    else:
        python_args = args
    ours = outcome(native.downstream_response_headers, *args, **kwargs)
    python = outcome(headers.downstream_response_headers, *python_args, **kwargs)
    assert timing_masked(ours) == timing_masked(python)


def test_call_ids_are_version_4_uuids_as_pythons_are(native: ModuleType) -> None:
    for _ in range(1000):
        assert UUID4.match(native.new_call_id())
    assert UUID4.match(call_ids.new_call_id())


def test_call_ids_do_not_repeat(native: ModuleType) -> None:
    drawn = [native.new_call_id() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_other_ids_than_its_parent(native: ModuleType) -> None:
    native.new_call_id()  # the pool is full: a child that kept it would repeat what follows
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids to the parent, then out without pytest's cleanup
        try:
            os.close(read_end)
            os.write(write_end, " ".join(native.new_call_id() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent = {native.new_call_id() for _ in range(5)}
    with os.fdopen(read_end, "rb") as pipe:
        child = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    assert len(child) == 5
    assert all(UUID4.match(call_id) for call_id in child)
    assert not parent & child


def python_calls(call: Callable[[], object]) -> set[str]:
    """The Python functions `call` enters (besides itself)."""
    entered: set[str] = set()

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is not call.__code__:
            entered.add(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entered


def test_the_hot_paths_calls_stay_in_c(native: ModuleType) -> None:
    """The shapes the gateway's hot path gives take the C path, not the fallback."""
    sent = [
        (b"host", b"gateway:8080"),
        (b"user-agent", b"wrk"),
        (b"connection", b"keep-alive, x-trace"),
        (b"x-trace", b"1"),
        (b"x-faas-hops", b"1"),
        (b"content-length", b"100"),
    ]
    forwarded, _ = native.forwarded_request_headers(sent, **{**WHERE, "client_address": "1.2.3.4"})
    answer = [(b"Content-Type", b"text/plain"), (b"content-length", b"100"), (b"Connection", b"x")]
    assert not python_calls(lambda: native.forwarded_request_headers(sent, **WHERE))
    assert not python_calls(lambda: native.request_head("POST", "/", forwarded, b"x", False))
    assert not python_calls(lambda: native.downstream_response_headers(answer, "id", 1))
    assert not python_calls(lambda: native.new_call_id())
    assert python_calls(lambda: native.request_head("POST", "/", CIMultiDict(), None, False))
