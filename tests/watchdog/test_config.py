"""fwatchdog.config: durations and the configuration read from the environment."""

from __future__ import annotations

import pytest
from fwatchdog.config import ConfigError, load_config, parse_duration


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
    assert parse_duration("x", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5 s", "5x", "-1", "1s-", "nan", "inf", "5s5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="read_timeout"):
        parse_duration("read_timeout", text)


def test_load_config_defaults() -> None:
    cfg = load_config({"fprocess": "cat -n", "PATH": "/usr/bin:/bin"})
    assert cfg.fprocess == ("cat", "-n")
    assert cfg.port == 8080
    assert cfg.mode == "fork"
    assert cfg.exec_timeout == 10.0
    assert cfg.lock_file == "/tmp/.lock"
    assert cfg.max_inflight == 0
    assert not cfg.combine_output


def test_load_config_splits_like_a_shell() -> None:
    cfg = load_config({"fprocess": "sh -c 'echo \"a b\"'", "PATH": "/usr/bin:/bin"})
    assert cfg.fprocess == ("sh", "-c", 'echo "a b"')
