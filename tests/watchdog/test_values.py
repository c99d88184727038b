"""fwatchdog.values: the one parser per kind of value, shared with the gateway."""

from __future__ import annotations

import pytest
from fwatchdog.values import (
    DURATION,
    invalid,
    is_dns_label,
    parse_bool,
    parse_duration,
    parse_http_url,
    parse_integer,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("2.5s", 2.5),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("10ns", 1e-8),
        ("10", 10.0),
        ("2.5", 2.5),
        ("0", 0.0),
        (" 3s ", 3.0),
        # What the gateway's variables and the watchdog's read before (`float`).
        ("1e3", 1000.0),
        ("1e3s", 1000.0),
        ("+5", 5.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", " ", "s", "5 s", "5x", "-1", "-1s", "1s-", "nan", "inf", "1e400", "5s5", "٣", "٣s",
     "²", "1" * 70, "5" * 5000 + "s", "1d"],
)  # fmt: skip
def test_invalid_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), (" TRUE ", True), ("1", True), ("yes", True), ("On", True),
     ("false", False), ("0", False), ("no", False), ("off", False)],
)  # fmt: skip
def test_booleans(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["", "²", "y", "2", "truth"])
def test_invalid_booleans(text: str) -> None:
    assert parse_bool(text) is None


@pytest.mark.parametrize("text", ["a", "openfaas-fn", "a" * 63, "0-9"])
def test_dns_labels(text: str) -> None:
    assert is_dns_label(text)


@pytest.mark.parametrize("text", ["", "-a", "a-", "A", "a.b", "a_b", "a" * 64, "\uff41", "a\n"])
def test_invalid_dns_labels(text: str) -> None:
    assert not is_dns_label(text)


def test_one_message_names_the_variable() -> None:
    assert invalid("exec_timeout", "2x", DURATION) == (
        f"exec_timeout: expected {DURATION}, got '2x'"
    )


@pytest.mark.parametrize(
    "text", ["http://127.0.0.1:8000", "http://gateway:8080/path", "http://[::1]:80", "http://h"]
)
def test_http_urls(text: str) -> None:
    parts = parse_http_url(text)
    assert parts is not None
    assert parts.scheme == "http"


@pytest.mark.parametrize(
    "text", ["", "https://h", "http://", "http://h:99999", "http://h:port", "http://[::1", "h:80"]
)
def test_invalid_http_urls(text: str) -> None:
    assert parse_http_url(text) is None


@pytest.mark.parametrize(("text", "value"), [("0", 0), (" 8080 ", 8080), ("65535", 65535)])
def test_integers(text: str, value: int) -> None:
    assert parse_integer(text, 0, 65535) == value


@pytest.mark.parametrize("text", ["", "-1", "+5", "5_000", "1.0", "0x10", "65536", "٣", "9" * 65])
def test_invalid_integers(text: str) -> None:
    # One rule for the watchdog's variables, the gateway's and its labels: digits only.
    assert parse_integer(text, 0, 65535) is None
