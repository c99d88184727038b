"""Hypothesis strategies for HTTP/1.1 request byte streams, for the differential fuzzer
(test_parser_fuzz.py, tests/gateway/test_chain_fuzz.py, `make fuzz`).

A stream is one or more requests back to back (pipelining), each built from parts that are
mostly well-formed with a spelling drawn from the places where parsers are known to differ:
Content-Length (duplicates, lists, signs, leading zeros, whitespace, overflow),
Transfer-Encoding (`chunked` spellings, lists, both with Content-Length), chunk sizes
(extensions, leading zeros, hex case, overflow), trailers, header names and values (obs-fold,
tabs, bare CR, bare LF, NUL, high bytes) and line endings (CRLF or LF).

`FUZZ_SETTINGS` is the run's profile: derandomized with few examples in the unit suite,
random with many more when FAAS_FUZZ=long (`make fuzz`, run by `make bench`).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG_RUN = os.environ.get("FAAS_FUZZ") == "long"
"""`make fuzz` sets FAAS_FUZZ=long: the same properties with many more examples."""

PARSER_EXAMPLES = 50000 if LONG_RUN else 3000
"""Examples of the parser property (in-process, about 1 ms each)."""

CHAIN_EXAMPLES = 3000 if LONG_RUN else 250
"""Examples of the chain property (a real gateway and watchdog, a connection each)."""

FUZZ_SETTINGS = settings(
    derandomize=not LONG_RUN,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
"""A request hidden in a body: the message a smuggling attack wants a back end to see."""

PARTS = (
    "eol",
    "method",
    "target",
    "version",
    "cl-name",
    "cl-value",
    "te-name",
    "te-value",
    "separator",
    "header",
    "line-end",
    "chunk-size",
    "chunk-extension",
    "chunk-end",
    "last-chunk",
    "trailer",
)
"""The parts of a request that get an odd spelling: one or two per request, the others
clean, so that most requests reach the parsers' framing code."""

_CLEAN = {
    "eol": b"\r\n",
    "method": b"POST",
    "target": b"/",
    "version": b"HTTP/1.1",
    "cl-name": b"Content-Length",
    "te-name": b"Transfer-Encoding",
    "te-value": b"chunked",
    "separator": b": ",
    "chunk-extension": b"",
    "last-chunk": b"0",
}
_ODD = {
    "eol": [b"\n", b"\r", b"\r\r\n", b"\n\r"],
    "method": [b"GET", b"PUT", b"DELETE", b"OPTIONS", b"get", b"G ET", b"", b"GET\t"],
    "target": [b"/a?b=c", b"/x%20y", b"http://h/p?q", b"*", b"/a b", b"/\x80", b"/a\tb", b"a"],
    "version": [b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b"HTTP/01.1", b"HTTP/1.10"],
    "cl-name": [
        b"content-length",
        b"CONTENT-LENGTH",
        b"Content-Length ",
        b" Content-Length",
        b"Content_Length",
        b"Content-Length\t",
        b"Content-Lengt\x80",
    ],
    "te-name": [
        b"transfer-encoding",
        b"TRANSFER-ENCODING",
        b"Transfer-Encoding ",
        b" Transfer-Encoding",
        b"Transfer_Encoding",
        b"Transfer-Encoding\t",
    ],
    "te-value": [
        b"Chunked",
        b"CHUNKED",
        b" chunked ",
        b"\tchunked",
        b"chunked\x0b",
        b"chunked\x00",
        b"chunked, chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"xchunked",
        b"chunked;q=1",
        b"chunked,",
        b",chunked",
        b"\xe7hunked",
        b"chunk",
        b"",
        b"chunked\r",
        b"chunked\r\n ",
    ],
    "separator": [b":", b":\t", b":  ", b" : ", b":\r\n ", b":\n\t", b"\t:"],
    "header": [
        b"X-A: b\tc",
        b"X-A: \x80\xff",
        b"X-A: b\x00c",
        b"X-A: b\rc",
        b"X-A: b\nc",
        b"X-A: b\r\n c",
        b"X-A: b\n\tc",
        b"X-A:",
        b": b",
        b"X A: b",
        b"X-A b",
        b"\x00: b",
        b"Connection: Close",
        b"Connection: x, close",
        b"Host: y",
        b"Expect: 100-continue",
    ],
    "chunk-extension": [
        b";a=b",
        b"; a=b",
        b" ;a",
        b"\t;a",
        b';a="b;c"',
        b";\x80",
        b";a\rb",
        b";a\nb",
        b" ",
        b"\t",
    ],
    "last-chunk": [b"00", b"0;a=b", b"0 ", b"0\t;x", b"-0", b"", b"0x0"],
    "trailer": [
        b"X-T: v",
        b"X-T:v",
        b"X-T: v\x00",
        b"X-T: \x80",
        b" X-T: v",
        b"X-T v",
        b"Content-Length: 5",
        b"Transfer-Encoding: chunked",
        b": v",
    ],
}
_DATA = st.one_of(
    st.binary(max_size=12),
    st.just(SMUGGLED),
    st.just(b"0\r\n\r\n"),
    st.binary(max_size=3).map(lambda b: b + SMUGGLED),
)
_CLEAN_HEADERS = st.sampled_from(
    [b"X-A: b", b"Connection: close", b"Connection: keep-alive", b"Accept: */*"]
)


class _Spelling:
    """Draws each part clean, or odd when it is one of the request's perturbed parts."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.odd = draw(st.sets(st.sampled_from(PARTS), max_size=2))

    def __call__(self, part: str) -> bytes:
        if part in self.odd:
            return self.draw(st.sampled_from(_ODD[part]))
        return _CLEAN[part]

    def eol(self) -> bytes:
        """A line ending: the request's own, or now and then an odd one."""
        if "line-end" in self.odd and self.draw(st.integers(0, 3)) == 0:
            return self.draw(st.sampled_from(_ODD["eol"]))
        return self("eol")


def content_length_value(spell: _Spelling, length: int) -> bytes:
    """A Content-Length value for a body of `length` bytes, or a neighbour of it."""
    if "cl-value" not in spell.odd:
        return str(length).encode()
    draw = spell.draw
    number = draw(st.sampled_from([length, length + 1, max(length - 1, 0), 0, 2**64, 2**63 - 1]))
    digits = str(number).encode()
    return draw(
        st.sampled_from(
            [
                b"00" + digits,
                b"+" + digits,
                b"-" + digits,
                b" " + digits + b" ",
                digits + b", " + digits,
                digits + b",",
                digits + b" " + digits,
                b"0x%x" % number,
                digits + b".0",
                b"",
                b"\xb2",
                digits + b"\x00",
                b"1" + b"0" * 20,
                digits,
            ]
        )
    )


def chunk_size_line(spell: _Spelling, size: int) -> bytes:
    """The size line of a chunk of `size` bytes, in one of many spellings."""
    digits = b"%x" % size
    if "chunk-size" in spell.odd:
        digits = spell.draw(
            st.sampled_from(
                [
                    b"%X" % size,
                    b"000%x" % size,
                    b"0x" + digits,
                    b"+" + digits,
                    b"-" + digits,
                    b" " + digits,
                    b"f" * 16 + digits,
                    b"1" + b"0" * 16 + digits,
                    b"",
                    b"g",
                    b"0" * 30 + digits,
                ]
            )
        )
    return digits + spell("chunk-extension") + spell.eol()


def chunked_body(spell: _Spelling) -> bytes:
    """A chunked body: some chunks, a last chunk, trailers and the final line ending."""
    draw = spell.draw
    out = []
    for data in draw(st.lists(_DATA.filter(bool), max_size=3)):
        out.append(chunk_size_line(spell, len(data)))
        end = spell.eol()
        if "chunk-end" in spell.odd:
            end = draw(st.sampled_from([b"", b"\n", b"xx" + end, b"\r"]))
        out.append(data + end)
    out.append(spell("last-chunk") + spell.eol())
    if "trailer" in spell.odd:
        out.extend(
            trailer + spell.eol()
            for trailer in draw(st.lists(st.sampled_from(_ODD["trailer"]), min_size=1, max_size=2))
        )
    out.append(spell.eol())
    return b"".join(out)


@st.composite
def request(draw: st.DrawFn, prefix: bytes = b"") -> bytes:
    """One request (or something that looks like one): request line, headers, body.
    `prefix` goes before a target that is a path."""
    spell = _Spelling(draw)
    target = spell("target")
    target = prefix + target if target.startswith(b"/") else target
    line = b"%s %s %s" % (spell("method"), target, spell("version"))
    headers = [b"Host: x"]
    data = draw(_DATA)
    framing = draw(st.sampled_from(["none", "length", "length", "chunked", "chunked", "both"]))
    body = b""
    if framing in ("length", "both"):
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
            value = content_length_value(spell, len(data))
            headers.append(spell("cl-name") + spell("separator") + value)
        body = data
    if framing in ("chunked", "both"):
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
            headers.append(spell("te-name") + spell("separator") + spell("te-value"))
        body = chunked_body(spell)
    headers.extend(draw(st.lists(_CLEAN_HEADERS, max_size=1)))
    if "header" in spell.odd:
        headers.extend(draw(st.lists(st.sampled_from(_ODD["header"]), min_size=1, max_size=2)))
    headers = draw(st.permutations(headers))
    head = line + spell.eol() + b"".join(h + spell.eol() for h in headers) + spell.eol()
    return head + body


@st.composite
def request_stream(draw: st.DrawFn, prefix: bytes = b"") -> bytes:
    """One to three requests in one stream, maybe with stray line endings between them
    and maybe cut short. `prefix` goes before each target that is a path."""
    parts = []
    for index in range(draw(st.integers(1, 3))):
        if index and draw(st.integers(0, 7)) == 0:
            parts.append(draw(st.sampled_from([b"\r\n", b"\n", b"\r"])))
        parts.append(draw(request(prefix)))
    stream = b"".join(parts)
    if draw(st.integers(0, 9)) == 0:
        stream = stream[: draw(st.integers(0, len(stream)))]
    return stream
