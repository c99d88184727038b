"""The callback allow-list: prefixes compared part by part, nothing that steps outside."""

from __future__ import annotations

import pytest

from gateway.async_calls.callbacks import callback_allowed

PREFIXES = ("http://gateway:8080/function/",)


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway:8080/function/receiver",
        "http://gateway:8080/function/receiver/path?x=1",
        "http://GATEWAY:8080/function/receiver",
    ],
)
def test_allowed(url: str) -> None:
    assert callback_allowed(url, PREFIXES)


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway:8080/system/functions",
        "http://gateway:8080/function/../system/functions",
        "http://gateway:8080/function/%2e%2e/system/functions",
        "http://gateway:8081/function/receiver",
        "http://gateway/function/receiver",
        "https://gateway:8080/function/receiver",
        "http://gateway:8080@10.0.0.1/function/receiver",
        "http://user@gateway:8080/function/receiver",
        "http://gateway.evil:8080/function/receiver",
        "http://gateway:8080/functionx",
        "http://169.254.169.254/latest/meta-data",
        "ftp://gateway:8080/function/x",
        "http://gateway:8080/function/x\r\nX-Injected: 1",
        "not a url",
    ],
)
def test_refused(url: str) -> None:
    assert not callback_allowed(url, PREFIXES)


def test_a_prefix_without_a_trailing_slash_matches_whole_segments() -> None:
    prefixes = ("http://127.0.0.1:9000/callback",)
    assert callback_allowed("http://127.0.0.1:9000/callback", prefixes)
    assert callback_allowed("http://127.0.0.1:9000/callback/1", prefixes)
    assert not callback_allowed("http://127.0.0.1:9000/callbacks", prefixes)
