"""Compile `headers.c` into `_faas_headers` with the running interpreter's build settings.

No setuptools: the compiler, flags, include folders and file suffix come from `sysconfig`
(what the interpreter itself was built with), so the module loads in the interpreter that
built it. The module is written to a git-ignored folder and rebuilt only when the source
is newer than it.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

from bench.processes import NotAvailable
from tests.support import ROOT

MODULE = "_faas_headers"
SOURCE = Path(__file__).resolve().with_name("headers.c")
BUILD_DIR = ROOT / "build" / "native"
COMPILE_TIMEOUT = 120.0
"""Seconds one compiler run may take (a few on this machine; a loaded one is slower)."""
EXTRA_CFLAGS = ("-std=c11", "-D_GNU_SOURCE", "-Wextra", "-Wno-unused-parameter")
"""Beyond the interpreter's CFLAGS: C11 with GNU's headers (getrandom, clock_gettime),
and the warnings the interpreter's flags leave out."""


class BuildFailed(NotAvailable):
    """The compiler ran and refused `headers.c` (its output is the message)."""


def _config(name: str) -> str:
    value = sysconfig.get_config_var(name)
    return value if isinstance(value, str) else ""


def module_path(out_dir: Path = BUILD_DIR) -> Path:
    """Where `build` writes the module for this interpreter."""
    return out_dir / (MODULE + _config("EXT_SUFFIX"))


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildFailed(f"{shlex.join(argv)}: {error}") from error
    if done.returncode != 0:
        raise BuildFailed(f"{shlex.join(argv)} failed:\n{done.stdout}{done.stderr}")


def build(out_dir: Path = BUILD_DIR) -> Path:
    """The compiled module in `out_dir` (built now when it is missing or older than the
    source); `NotAvailable` when there is no C compiler or no Python headers."""
    target = module_path(out_dir)
    if target.exists() and target.stat().st_mtime >= SOURCE.stat().st_mtime:
        return target
    compiler = shlex.split(_config("CC") or "cc")
    linker = shlex.split(_config("LDSHARED") or f"{compiler[0]} -shared")
    if shutil.which(compiler[0]) is None or shutil.which(linker[0]) is None:
        raise NotAvailable(f"no C compiler: {compiler[0]!r} (the interpreter's CC) is not on PATH")
    includes = {sysconfig.get_paths()["include"], sysconfig.get_paths()["platinclude"]}
    if not any((Path(folder) / "Python.h").exists() for folder in includes):
        raise NotAvailable(f"no Python headers (Python.h) in {', '.join(sorted(includes))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as work:
        objects = Path(work) / "headers.o"
        built = Path(work) / target.name
        _run(
            [
                *compiler,
                *shlex.split(_config("CFLAGS")),
                *shlex.split(_config("CCSHARED")),
                *EXTRA_CFLAGS,
                *(f"-I{folder}" for folder in sorted(includes)),
                "-c",
                str(SOURCE),
                "-o",
                str(objects),
            ]
        )
        _run([*linker, str(objects), "-o", str(built)])
        os.replace(built, target)  # atomic: a process loading it never sees half a file
    return target


def load(out_dir: Path = BUILD_DIR) -> ModuleType:
    """The built module, imported (built first when needed); `NotAvailable` as `build`.

    Import it before anything replaces the gateway's functions with it: it keeps the
    Python ones to hand odd calls to.
    """
    loaded = sys.modules.get(MODULE)
    if loaded is not None:
        return loaded
    path = build(out_dir)
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise NotAvailable(f"{path} cannot be imported as an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[MODULE] = module
    return module
