"""The parked functions' file: written whole by one worker, read when it changed."""

from __future__ import annotations

from pathlib import Path

from gateway.scaling.parked_file import ParkedFile


def test_names_are_read_once_per_change_and_none_without_a_file(tmp_path: Path) -> None:
    writer, reader = ParkedFile(tmp_path / "parked"), ParkedFile(tmp_path / "parked")
    assert reader.read_if_changed() == set()
    writer.publish({"b", "a"})
    assert (tmp_path / "parked").read_text() == "a\nb\n"
    assert reader.read_if_changed() == {"a", "b"}
    assert reader.read_if_changed() is None  # unchanged: not read again
    writer.publish(set())
    assert reader.read_if_changed() == set()
    assert [path.name for path in tmp_path.iterdir()] == ["parked"]  # no temporary left
