"""`WatchLoop`: which saves roll which function, what a failed build does, and the
save -> answering time it prints (a fake roll and a fake clock); and `file_changes` on a
real folder."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from faas_cli.definitions import FunctionDefinition
from faas_cli.errors import CliError
from faas_cli.watch import WatchLoop, file_changes


def definition(name: str, handler: Path | None) -> FunctionDefinition:
    return FunctionDefinition(name=name, image=f"localhost/faas/{name}:latest", handler=handler)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "handler.py").write_text("x")
    return tmp_path / "one", tmp_path / "two"


class FakeRoll:
    def __init__(self, outcomes: list[bool | CliError]) -> None:
        self.outcomes = outcomes
        self.rolled: list[str] = []

    def __call__(self, function: FunctionDefinition) -> bool:
        self.rolled.append(function.name)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, CliError):
            raise outcome
        return outcome


def test_a_save_rolls_the_function_holding_it_and_says_when(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    one, two = folders
    os.utime(one / "handler.py", (1000.0, 1000.0))
    roll, out = FakeRoll([True]), io.StringIO()
    functions = [definition("one", one), definition("two", two), definition("img", None)]
    loop = WatchLoop(functions, roll, out, clock=lambda: 1002.5)
    assert loop.folders() == [one, two]
    loop.on_change({one / "handler.py", tmp_path / "elsewhere.txt"})
    assert roll.rolled == ["one"]
    assert "one: new code answering 2.5s after the save" in out.getvalue()


def test_a_failed_build_is_reported_and_the_next_save_retried(folders: tuple[Path, Path]) -> None:
    one, _ = folders
    roll, out = FakeRoll([CliError("docker build of one failed (exit 1)"), True]), io.StringIO()
    loop = WatchLoop([definition("one", one)], roll, out, clock=lambda: 0.0)
    loop.run([{one / "handler.py"}, {one / "handler.py"}])
    printed = out.getvalue()
    assert "faas: one: docker build of one failed (exit 1)" in printed
    assert "one still runs its previous code" in printed
    assert roll.rolled == ["one", "one"]
    assert printed.count("new code answering") == 1


def test_an_unchanged_build_rolls_nothing(folders: tuple[Path, Path]) -> None:
    one, _ = folders
    out = io.StringIO()
    WatchLoop([definition("one", one)], FakeRoll([False]), out).on_change({one / "handler.py"})
    assert "nothing to roll" in out.getvalue()


def test_a_removed_file_counts_from_now(folders: tuple[Path, Path]) -> None:
    one, _ = folders
    times = iter([50.0, 51.0])
    out = io.StringIO()
    loop = WatchLoop([definition("one", one)], FakeRoll([True]), out, clock=lambda: next(times))
    loop.on_change({one / "gone.py"})
    assert "1.0s after the save" in out.getvalue()


def test_changes_under_ignored_folders_roll_nothing(tmp_path: Path) -> None:
    (tmp_path / "build" / "here").mkdir(parents=True)
    roll = FakeRoll([])
    loop = WatchLoop([definition("here", tmp_path)], roll, io.StringIO(),
                     ignore=[tmp_path / "build"])  # fmt: skip
    loop.on_change({tmp_path / "build" / "here" / "handler.py"})
    assert roll.rolled == []


MAX_EMPTY_BATCHES = 60
"""Batches `file_changes` may yield before the save's (one per half second of quiet)."""


def test_file_changes_sees_a_save(folders: tuple[Path, Path]) -> None:
    one, _ = folders
    (one / "build").mkdir()
    changes = file_changes([one], ignore=[one / "build"])
    saver = threading.Timer(0.5, lambda: [(one / "build" / "x").write_text("no"),
                                          (one / "handler.py").write_text("y")])  # fmt: skip
    saver.start()
    try:
        # Empty batches say the watch has begun, or that nothing changed for a while.
        batch: set[Path] = set()
        for _ in range(MAX_EMPTY_BATCHES):
            batch = next(changes)
            if batch:
                break
    finally:
        saver.cancel()
        changes.close()
    assert one / "handler.py" in batch
    assert all("build" not in path.parts for path in batch)
