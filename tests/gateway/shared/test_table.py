"""`SharedTable`: what one worker writes, another reads; entries expire; the file is bounded
and a file that is not ours reads as empty. Processes are real where it matters (a
write from another process, concurrent writers), instances on one folder elsewhere."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from gateway.shared.table import MAX_FILE_BYTES, MAX_VALUE_CHARS, SharedTable


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def table(path: Path, clock: Clock | None = None) -> SharedTable:
    """A table that looks at its file at every read."""
    return SharedTable(path, recheck=0.0, clock=clock or time.time)


def _mark(path: str, keys: list[str]) -> None:
    writer = SharedTable(Path(path))
    for key in keys:
        writer.put(key, f"seen by {key}", 60.0)


def test_another_process_learns_what_one_marked(tmp_path: Path) -> None:
    reader = table(tmp_path / "unreachable")
    assert reader.entries() == {}  # no file yet: nothing learnt
    child = multiprocessing.get_context("spawn").Process(
        target=_mark, args=(str(tmp_path / "unreachable"), ["10.0.0.2"])
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    entry = reader.get("10.0.0.2")
    assert entry is not None
    assert entry.value == "seen by 10.0.0.2"
    assert reader.get("10.0.0.3") is None


def test_writers_in_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "unreachable"
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_mark, args=(str(path), [f"10.0.{n}.{i}" for i in range(20)]))
        for n in range(3)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
        assert writer.exitcode == 0
    assert len(table(path).entries()) == 60


def test_two_instances_on_one_folder_share_every_entry(tmp_path: Path) -> None:
    first, second = table(tmp_path / "failures"), table(tmp_path / "failures")
    first.put("fn", "a replica could not start", 10.0)
    second.put("other", "no such image", 10.0)
    for one in (first, second):
        assert {key: entry.value for key, entry in one.entries().items()} == {
            "fn": "a replica could not start",
            "other": "no such image",
        }


def test_an_entry_expires_even_if_nobody_writes_again(tmp_path: Path) -> None:
    clock = Clock()
    writer, reader = table(tmp_path / "t", clock), table(tmp_path / "t", clock)
    writer.put("10.0.0.2", "", 5.0)
    assert reader.get("10.0.0.2") is not None
    clock.now += 4.9
    assert "10.0.0.2" in reader.entries()
    clock.now += 0.2
    assert reader.get("10.0.0.2") is None
    assert reader.entries() == {}  # what the hot path tests: empty again


def test_a_removed_entry_ends_for_every_instance(tmp_path: Path) -> None:
    writer, reader = table(tmp_path / "parked"), table(tmp_path / "parked")
    writer.put("fn", "", 60.0)
    writer.put("other", "", 60.0)
    assert reader.entries().keys() == {"fn", "other"}
    reader.remove("fn")
    reader.remove("never there")
    assert writer.entries().keys() == {"other"}
    assert reader.get("fn") is None


def test_an_entry_learnt_after_now_is_not_in_force(tmp_path: Path) -> None:
    """A wall clock stepped back ends an entry early rather than stretching it."""
    clock = Clock()
    writer = table(tmp_path / "t", clock)
    writer.put("fn", "failed", 10.0)
    clock.now -= 60.0
    assert writer.get("fn") is None


def test_the_file_keeps_the_entries_that_expire_last(tmp_path: Path) -> None:
    clock = Clock()
    writer = SharedTable(tmp_path / "t", limit=3, recheck=0.0, clock=clock)
    for n in range(5):
        writer.put(f"10.0.0.{n}", "", 5.0)
        clock.now += 0.1
    assert sorted(writer.entries()) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_expired_entries_leave_the_file_at_the_next_write(tmp_path: Path) -> None:
    clock = Clock()
    writer = table(tmp_path / "t", clock)
    writer.put("old", "", 1.0)
    clock.now += 2.0
    writer.put("new", "", 1.0)
    assert "old" not in (tmp_path / "t").read_text()


def test_values_that_escape_long_still_make_a_file_readers_accept(tmp_path: Path) -> None:
    writer = table(tmp_path / "t")
    for n in range(128):
        writer.put(f"fn-{n}", "é\u2028" * MAX_VALUE_CHARS, 60.0)  # many bytes a character
    assert (tmp_path / "t").stat().st_size <= MAX_FILE_BYTES
    reader = table(tmp_path / "t")
    assert "fn-127" in reader.entries()  # the newest are kept
    assert len(reader.entries()) > 1


def test_the_same_entry_is_not_rewritten_while_it_mostly_holds(tmp_path: Path) -> None:
    clock = Clock()
    writer = table(tmp_path / "t", clock)
    writer.put("10.0.0.1", "refused", 5.0)
    written = (tmp_path / "t").stat().st_mtime_ns, (tmp_path / "t").stat().st_ino
    clock.now += 2.0  # 3 s of 5 left: more than half
    writer.put("10.0.0.1", "refused", 5.0)
    assert ((tmp_path / "t").stat().st_mtime_ns, (tmp_path / "t").stat().st_ino) == written
    clock.now += 1.0  # 2 s left: renewed
    writer.put("10.0.0.1", "refused", 5.0)
    entry = writer.get("10.0.0.1")
    assert entry is not None
    assert entry.until == clock.now + 5.0


def test_a_long_value_is_cut(tmp_path: Path) -> None:
    writer = table(tmp_path / "t")
    writer.put("fn", "x" * (MAX_VALUE_CHARS * 3), 10.0)
    entry = writer.get("fn")
    assert entry is not None
    assert len(entry.value) == MAX_VALUE_CHARS


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"fn": "no list"}',
        b'{"fn": [1, 2]}',
        b'{"fn": ["a", 2, "x"]}',
        b'{"fn": [true, 2, "x"]}',
        b'{"fn": [1, 2, 3]}',
        b'{"fn": [0, 1e99, "x"]}' + b" " * MAX_FILE_BYTES,  # larger than we ever write
        b"[" * 100_000,
        b'{"fn": [0, 1' + b"0" * 400 + b', "x"]}',
        b'{"fn": [0, 1e999, "x"]}',
    ],
    ids=["empty", "text", "binary", "list", "string", "short", "text-time", "bool-time",
         "number-value", "oversized", "nested", "huge-int", "infinite"],
)  # fmt: skip
def test_a_garbled_file_is_no_memory(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "t").write_bytes(content)
    reader = table(tmp_path / "t")
    assert reader.entries() == {}
    reader.put("other", "fresh", 10.0)  # and a write replaces it
    assert list(reader.entries()) == ["other"]


def test_a_change_shows_after_the_recheck_interval(tmp_path: Path) -> None:
    """Between looks at the file the reader answers from memory (the hot path's cost)."""
    ticks = Clock(0.0)
    reader = SharedTable(tmp_path / "t", recheck=0.1, monotonic=ticks)
    writer = table(tmp_path / "t")
    assert reader.entries() == {}
    writer.put("10.0.0.2", "", 5.0)
    assert reader.entries() == {}
    ticks.now += 0.1
    assert list(reader.entries()) == ["10.0.0.2"]
