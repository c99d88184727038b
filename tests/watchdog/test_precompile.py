"""``fwatchdog.pyz --precompile``: this Python's bytecode inside the archive, used when the
versions match and ignored (the source compiled instead) when they do not."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support import watchdog_zipapp


def run(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no fprocess: exits with 2
    return subprocess.run(
        [sys.executable, "-I", str(archive), *args], capture_output=True, text=True, env=env
    )


def bytecode(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zipped:
        return {n: zipped.read(n) for n in zipped.namelist() if n.endswith(".pyc")}


def test_puts_this_pythons_bytecode_beside_every_module(tmp_path: Path) -> None:
    archive = tmp_path / "fwatchdog.pyz"
    shutil.copy(watchdog_zipapp(), archive)
    with zipfile.ZipFile(archive) as zipped:
        sources = {n for n in zipped.namelist() if n.endswith(".py")}
    assert run(archive, "--precompile").returncode == 0
    compiled = bytecode(archive)
    assert {n + "c" for n in sources} == set(compiled)
    assert {data[:4] for data in compiled.values()} == {importlib.util.MAGIC_NUMBER}
    assert os.access(archive, os.X_OK)
    with zipfile.ZipFile(archive) as zipped:  # stored: reading it needs no zlib
        assert {i.compress_type for i in zipped.infolist()} == {zipfile.ZIP_STORED}
    assert "fprocess is required" in run(archive).stderr  # it still runs


def test_bytecode_of_another_python_is_ignored(tmp_path: Path) -> None:
    archive = tmp_path / "fwatchdog.pyz"
    with zipfile.ZipFile(watchdog_zipapp()) as source, zipfile.ZipFile(archive, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith(".pyc"):
                data = b"\x00\x00\r\n" + data[4:]  # a magic number no Python has
            target.writestr(name, data)
    result = run(archive)
    assert result.returncode == 2
    assert "fprocess is required" in result.stderr


def test_refuses_what_is_not_a_zipapp(tmp_path: Path) -> None:
    from fwatchdog.precompile import precompile

    script = tmp_path / "main.py"
    script.write_text("")
    assert precompile(str(script)) == 2
