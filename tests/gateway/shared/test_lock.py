"""`FileLock`: one holder at a time, until it lets go (or dies: the kernel drops flock)."""

from __future__ import annotations

from pathlib import Path

from gateway.shared import FileLock


def test_file_lock_is_held_by_one_holder_until_released(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "lock"), FileLock(tmp_path / "lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert second.held
    assert not first.held
    second.release()
