"""The start-up check of the ARP retransmit time (gateway/neighbours.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.neighbours import slow_interfaces, warn_if_slow


def settings(root: Path, values: dict[str, str]) -> Path:
    for name, value in values.items():
        (root / name).mkdir()
        (root / name / "retrans_time_ms").write_text(value + "\n")
    return root


def test_interfaces_at_the_kernel_default_are_slow(tmp_path: Path) -> None:
    root = settings(tmp_path, {"eth0": "100", "eth1": "1000", "lo": "1000", "default": "1000"})
    assert slow_interfaces(root) == {"eth1": 1000}


def test_unreadable_settings_are_not_reported(tmp_path: Path) -> None:
    root = settings(tmp_path, {"eth0": "garbage"})
    assert slow_interfaces(root) == {}
    assert slow_interfaces(tmp_path / "missing") == {}


def test_the_warning_names_the_interface_and_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = settings(tmp_path, {"eth1": "1000"})
    with caplog.at_level(logging.WARNING, logger="gateway.neighbours"):
        warn_if_slow(root)
    assert "eth1 1000 ms" in caplog.text
    assert "retrans_time_ms=100" in caplog.text


def test_no_warning_when_every_interface_is_fast(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = settings(tmp_path, {"eth0": "100"})
    with caplog.at_level(logging.WARNING, logger="gateway.neighbours"):
        warn_if_slow(root)
    assert caplog.text == ""
