"""Routing rules 1 and 2 as pure functions."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.routing.rules import Target, target_from_header, target_from_path


@pytest.mark.parametrize(
    ("raw_path", "query", "expected"),
    [
        (b"/function/cat", b"", Target("cat", "/")),
        (b"/function/cat/", b"", Target("cat", "/")),
        (b"/function/cat/a/b", b"x=1", Target("cat", "/a/b?x=1")),
        (b"/function/cat/a%2Fb%20c", b"", Target("cat", "/a%2Fb%20c")),
        (b"/function/my%2Dfn/x", b"", Target("my-fn", "/x")),
        (b"/function/cat", b"q=%20", Target("cat", "/?q=%20")),
    ],
)
def test_function_path(raw_path: bytes, query: bytes, expected: Target) -> None:
    assert target_from_path(raw_path, query) == expected


@pytest.mark.parametrize("raw_path", [b"/", b"/functions/cat", b"/x/function/cat", b"/func"])
def test_other_paths_are_not_function_paths(raw_path: bytes) -> None:
    assert target_from_path(raw_path, b"") is None


@pytest.mark.parametrize("raw_path", [b"/function", b"/function/", b"/function//x"])
def test_function_path_without_name_is_bad_request(raw_path: bytes) -> None:
    with pytest.raises(BadRequest, match="missing function name"):
        target_from_path(raw_path, b"")


def test_header_names_function_and_keeps_path() -> None:
    headers = [(b"host", b"gw"), (b"x-function", b" cat ")]
    assert target_from_header(headers, b"/a/b", b"q=1") == Target("cat", "/a/b?q=1")


def test_no_header_no_target() -> None:
    assert target_from_header([(b"host", b"gw")], b"/", b"") is None


def test_empty_header_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="X-Function"):
        target_from_header([(b"x-function", b"  ")], b"/", b"")
