"""The suite guards itself: an emptied test module fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    """Run pytest on `folder` with this suite's conftest hooks and no other configuration."""
    (folder / "conftest.py").write_text("from tests.conftest import pytest_make_collect_report\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_empty_test_module_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_emptied.py").write_text('"""Tests that a bad merge removed."""\n')
    (tmp_path / "test_kept.py").write_text("def test_one() -> None:\n    pass\n")
    done = run_pytest(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "test_emptied.py: this test module collects no test" in done.stdout


def test_a_module_that_skips_itself_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "test_skipped.py").write_text(
        "import pytest\npytest.skip('not here', allow_module_level=True)\n"
    )
    (tmp_path / "test_kept.py").write_text("def test_one() -> None:\n    pass\n")
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout
