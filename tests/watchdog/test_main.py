"""fwatchdog.__main__: what an idle watchdog has loaded (issue #35's idle cost), and
`import_blocking`, which keeps asyncio's optional ssl out of it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from fwatchdog.__main__ import import_blocking

from tests.support import (
    BackgroundProcess,
    free_port,
    wait_for,
    watchdog_settings,
    watchdog_zipapp,
)

from .conftest import UPSTREAM, raw_request

# Run the zipapp's own entry point, and list every module loaded when it exits (after
# SIGTERM, once it has drained). -I -S: no site, so nothing of this virtualenv is loaded.
HARNESS = """
import atexit, sys
pyz, out = sys.argv[1], sys.argv[2]
del sys.argv[1:]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.path.insert(0, pyz)
from fwatchdog.__main__ import run
run()
"""

# Loaded by none of an idle watchdog's paths: each only where it is needed (--healthcheck,
# a spool file, an absolute-form target, job mode), or never (TLS, email, pathlib; zlib:
# the archive is stored, see fwatchdog.precompile).
NEVER_AT_REST = frozenset(
    {
        "ssl",
        "_ssl",
        "email",
        "email.utils",
        "http.client",
        "urllib.request",
        "shutil",
        "tempfile",
        "pathlib",
        "json",
        "logging.config",
        "zlib",
    }
)


def loaded_after_calls(tmp_path: Path, fprocess: str, **env: str) -> set[str]:
    """The modules of a watchdog that started, answered a few calls and stopped."""
    port = free_port()
    out = tmp_path / "modules.txt"
    settings = {**watchdog_settings(fprocess, port, tmp_path), **env}
    argv = [sys.executable, "-I", "-S", "-c", HARNESS, str(watchdog_zipapp()), str(out)]
    with BackgroundProcess(argv, port, settings, log_file=tmp_path / "log") as wd:
        lock = Path(settings["lock_file"])
        wait_for(lambda: lock.exists() or wd.process.poll() is not None, "the lock file")
        for _ in range(3):
            request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
            assert raw_request(port, request).status < 500  # the function answered
        assert wd.stop() == 0
    return set(out.read_text().split())


def test_fork_mode_loads_nothing_it_does_not_use(tmp_path: Path) -> None:
    loaded = loaded_after_calls(tmp_path, "cat")
    assert "fwatchdog.runners.process" in loaded  # the harness saw the real thing
    assert loaded & (NEVER_AT_REST | {"urllib.parse"}) == set()


def test_http_mode_loads_nothing_it_does_not_use(tmp_path: Path) -> None:
    upstream = free_port()
    loaded = loaded_after_calls(
        tmp_path,
        f"{sys.executable} {UPSTREAM} {upstream}",
        mode="http",
        upstream_url=f"http://127.0.0.1:{upstream}",
    )
    assert "fwatchdog.runners.http" in loaded
    assert loaded & NEVER_AT_REST == set()


def test_import_blocking_makes_an_optional_import_fail_and_lifts_afterwards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "optional_user.py").write_text(
        "try:\n    import json\nexcept ImportError:\n    json = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "json", raising=False)
    monkeypatch.delitem(sys.modules, "optional_user", raising=False)
    assert import_blocking("optional_user", "json", ("json",)) is None
    assert "json" not in sys.modules
    assert importlib.import_module("json").dumps(1) == "1"  # importable again


def test_import_blocking_leaves_a_loaded_module_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    assert import_blocking("json", "dumps", ("json",)) is json.dumps
    assert sys.modules["json"] is json
