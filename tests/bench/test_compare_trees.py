"""bench.compare_trees: trees prepared from revisions and folders, measured in turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare_trees import TreeResult, compile_with_mypyc, main, prepare, table
from bench.processes import NotAvailable
from tests.support import ROOT


def test_the_working_tree_runs_where_it_is(tmp_path: Path) -> None:
    assert prepare(".", tmp_path / "tree") == ROOT
    assert not (tmp_path / "tree").exists()


def test_a_revision_is_exported_to_a_folder_of_its_own(tmp_path: Path) -> None:
    tree = prepare("HEAD", tmp_path / "tree")
    assert tree == tmp_path / "tree"
    assert (tree / "gateway" / "__main__.py").is_file()
    assert not (tree / ".git").exists()


def test_an_unknown_revision_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(NotAvailable, match="no revision 'no-such-revision'"):
        prepare("no-such-revision", tmp_path / "tree")


def test_a_tree_mypyc_cannot_compile_is_refused_with_mypyc_s_words(tmp_path: Path) -> None:
    (tmp_path / "gateway").mkdir()
    with pytest.raises(NotAvailable, match="mypyc could not compile the hot path"):
        compile_with_mypyc(tmp_path)


def test_the_table_compares_medians_with_the_first_tree() -> None:
    before = TreeResult("HEAD~1", [1000.0, 900.0, 1100.0], [100.0, 110.0, 90.0], [200.0] * 3)
    after = TreeResult(".", [2000.0, 1800.0, 2200.0], [50.0, 55.0, 45.0], [150.0] * 3)
    before.loads = after.loads = ["0.5", "0.6", "0.7"]
    after.errors = 3
    rows = table([before, after]).splitlines()
    assert rows[2] == "| HEAD~1 | 1,000 | 1.00x | 100 µs | 1.00x | 200 µs | 0 | 0.5, 0.6, 0.7 |"
    assert rows[3] == "| . | 2,000 | 2.00x | 50 µs | 0.50x | 150 µs | 3 | 0.5, 0.6, 0.7 |"


def test_one_round_over_the_working_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([".", "--rounds", "1", "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "| . |" in out
    assert "1.00x" in out
