"""docs/architecture.md's import table says what `test_layers.RULES` enforces, row for row."""

from __future__ import annotations

import re

from tests.gateway.test_layers import RULES
from tests.support import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
HEADING = "## Packages and what each must not import"


def table_rows() -> dict[str, tuple[str, ...]]:
    """The table's rows under HEADING: scope -> the backquoted names of its last column."""
    text = ARCHITECTURE.read_text()
    assert HEADING in text, f"docs/architecture.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, ...]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        scope = re.fullmatch(r"`(gateway[\w.]*)`", cells[0])
        if line.startswith("|") and scope:
            assert scope[1] not in rows, f"docs/architecture.md: two rows for {scope[1]}"
            rows[scope[1]] = tuple(re.findall(r"`([^`]+)`", cells[-1]))
    return rows


def expected_row(scope: str, prefixes: tuple[str, ...]) -> str:
    """The row's first and last cells as the table spells them."""
    return f"| `{scope}` | ... | " + ", ".join(f"`{prefix}`" for prefix in prefixes) + " |"


def test_the_table_names_exactly_the_rules() -> None:
    rules = dict(RULES)
    rows = table_rows()
    wrong = [
        f"  {expected_row(scope, prefixes)}"
        for scope, prefixes in RULES
        if rows.get(scope) != prefixes
    ]
    extra = [f"  {scope} (no such rule)" for scope in rows if scope not in rules]
    assert not wrong + extra, (
        f"docs/architecture.md ({HEADING!r}) disagrees with tests/gateway/test_layers.py; "
        "write these rows as the rules say:\n" + "\n".join(wrong + extra)
    )
