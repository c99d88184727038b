"""The parked functions' table: each worker puts and removes its own parks, every worker
reads them, and a reader hears of a change once."""

from __future__ import annotations

from pathlib import Path

from gateway.scaling.parked_file import PARKED_ENTRY_SECONDS, ParkedFile
from gateway.shared import SharedTable


def test_names_are_reported_once_per_change_and_empty_without_a_file(tmp_path: Path) -> None:
    writer, reader = ParkedFile(tmp_path / "parked"), ParkedFile(tmp_path / "parked")
    assert reader.read_if_changed() == set()
    writer.publish({"b", "a"})
    assert reader.read_if_changed() == {"a", "b"}
    assert reader.read_if_changed() is None  # unchanged
    writer.publish({"a"})
    assert reader.read_if_changed() == {"a"}
    writer.publish(set())
    assert reader.read_if_changed() == set()


def test_two_workers_parks_live_side_by_side(tmp_path: Path) -> None:
    one, two = ParkedFile(tmp_path / "parked"), ParkedFile(tmp_path / "parked")
    one.publish({"a"})
    two.publish({"b"})
    one.publish(set())  # ends only its own park
    assert ParkedFile(tmp_path / "parked").read_if_changed() == {"b"}


def test_a_park_left_by_a_dead_worker_ends_by_itself(tmp_path: Path) -> None:
    ParkedFile(tmp_path / "parked").publish({"a"})
    entry = SharedTable(tmp_path / "parked").get("a")
    assert entry is not None
    assert 0 < entry.until - entry.learnt <= PARKED_ENTRY_SECONDS
