"""Pure functions of fwatchdog: durations, configuration, request heads."""

from __future__ import annotations

import fwatchdog
import pytest


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("10", 10.0),
        ("2.5", 2.5),
        ("0", 0.0),
        (" 3s ", 3.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert fwatchdog.parse_duration("x", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5 s", "5x", "-1", "1s-", "nan", "inf", "5s5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(fwatchdog.ConfigError, match="read_timeout"):
        fwatchdog.parse_duration("read_timeout", text)


def test_load_config_defaults() -> None:
    cfg = fwatchdog.load_config({"fprocess": "cat -n", "PATH": "/usr/bin:/bin"})
    assert cfg.fprocess == ("cat", "-n")
    assert cfg.port == 8080
    assert cfg.mode == "fork"
    assert cfg.exec_timeout == 10.0
    assert cfg.lock_file == "/tmp/.lock"
    assert cfg.max_inflight == 0
    assert not cfg.combine_output


def test_load_config_splits_like_a_shell() -> None:
    cfg = fwatchdog.load_config({"fprocess": "sh -c 'echo \"a b\"'", "PATH": "/usr/bin:/bin"})
    assert cfg.fprocess == ("sh", "-c", 'echo "a b"')


def test_parse_head() -> None:
    req = fwatchdog.parse_head(
        b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    )
    assert (req.method, req.path, req.query) == ("POST", "/a/b", "c=d")
    assert req.content_length == 3
    assert not req.keep_alive
    assert not req.chunked


def test_parse_head_absolute_form() -> None:
    req = fwatchdog.parse_head(b"GET http://example.com/p?q=1 HTTP/1.1\r\n\r\n")
    assert (req.path, req.query) == ("/p", "q=1")


def test_env_names() -> None:
    assert fwatchdog.env_name("x-call-id") == "Http_X_Call_Id"
    assert fwatchdog.env_name("Content-Type") == "Http_Content_Type"
    assert fwatchdog.env_name("ACCEPT") == "Http_Accept"
