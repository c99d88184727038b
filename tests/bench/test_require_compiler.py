"""tests.support.require_compiler: no compiler skips a native test, but fails it in CI."""

from __future__ import annotations

from typing import NoReturn

import pytest

from bench.native.build import BuildFailed
from bench.processes import NotAvailable
from tests.support import require_compiler


def no_compiler() -> NoReturn:
    raise NotAvailable("no C compiler: 'cc' (the interpreter's CC) is not on PATH")


def refused() -> NoReturn:
    raise BuildFailed("cc -c headers.c failed:\nheaders.c:1: error")


def test_a_built_module_is_handed_back() -> None:
    assert require_compiler(lambda: "module") == "module"


def test_no_compiler_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install gcc python3-dev"):
        require_compiler(no_compiler)


def test_no_compiler_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this check"):
        require_compiler(no_compiler)


def test_a_compiler_that_refuses_the_source_always_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(BuildFailed, match="error"):
        require_compiler(refused)
