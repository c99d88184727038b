"""fwatchdog.config: the configuration read from the environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fwatchdog.config import ConfigError, load_config, which


@pytest.mark.parametrize(
    ("name", "raw"),
    [("read_timeout", "5 s"), ("exec_timeout", "-1"), ("combine_output", "maybe"),
     ("max_inflight", "-2")],
)  # fmt: skip
def test_an_invalid_value_names_its_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: expected .*, got '{raw}'$"):
        load_config({"fprocess": "cat", "PATH": "/usr/bin:/bin", name: raw})


def test_durations_go_style() -> None:
    env = {"fprocess": "cat", "PATH": "/usr/bin:/bin"}
    cfg = load_config({**env, "exec_timeout": "2m", "read_timeout": "1m30s", "write_timeout": "0"})
    assert (cfg.exec_timeout, cfg.read_timeout, cfg.write_timeout) == (120.0, 90.0, 0.0)


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


def test_which_finds_what_shutil_finds(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    (first / "tool").write_text("")  # not executable: skipped
    (second / "tool").write_text("#!/bin/sh\n")
    (second / "tool").chmod(0o755)
    (first / "folder").mkdir(mode=0o755)  # a folder is not a program
    path = os.pathsep.join([str(first), str(first), str(second)])
    for name in ("tool", "folder", "missing", str(second / "tool"), str(first / "tool")):
        assert which(name, path) == shutil.which(name, path=path), name
    assert which("tool", path) == str(second / "tool")
    assert which("sh", "") is None
