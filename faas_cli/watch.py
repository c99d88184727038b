"""`faas up --watch`: on every saved change under a function's handler folder, rebuild
and roll that function, and say how long it took from the save until the new code
answered. A failed build (a syntax error, say) is reported and the function keeps
running its previous code until the next save.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from watchfiles import DefaultFilter, watch

from faas_cli.definitions import FunctionDefinition
from faas_cli.errors import CliError

# watchfiles yields a burst of changes (an editor saving in several writes) once no new
# change came for WATCH_STEP_MS, or after WATCH_DEBOUNCE_MS of changes at the latest.
WATCH_STEP_MS = 50
WATCH_DEBOUNCE_MS = 1600
WATCH_STARTED_MS = 500
"""How long the watch waits for a change before it yields an empty batch: the first one
says the watch has begun."""

Roll = Callable[[FunctionDefinition], bool]


class WatchLoop:
    """Maps batches of changed paths to the functions whose handlers hold them and rolls
    each; `roll` builds and deploys one function and returns False when there was nothing
    new to roll (the build is the one running), raising `CliError` when it failed."""

    def __init__(
        self,
        functions: Sequence[FunctionDefinition],
        roll: Roll,
        out: TextIO,
        *,
        ignore: Sequence[Path] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.functions = [f for f in functions if f.handler is not None]
        self.roll = roll
        self.out = out
        self.ignore = [path.resolve() for path in ignore]
        self.clock = clock

    def folders(self) -> list[Path]:
        """The handler folders to watch."""
        return sorted({f.handler for f in self.functions if f.handler is not None})

    def affected(self, changed: Iterable[Path]) -> list[FunctionDefinition]:
        """The functions with a changed path in their handler folder (outside `ignore`)."""
        paths = [p.resolve() for p in changed]
        paths = [p for p in paths if not any(p.is_relative_to(i) for i in self.ignore)]
        return [
            f
            for f in self.functions
            if f.handler is not None and any(p.is_relative_to(f.handler) for p in paths)
        ]

    def on_change(self, changed: set[Path]) -> None:
        """Roll every function `changed` touches, one after the other."""
        for function in self.affected(changed):
            saved = self._saved_at(changed, function)
            self._say(f"{function.name}: change seen, rebuilding")
            try:
                rolled = self.roll(function)
            except CliError as error:
                self._say(f"faas: {function.name}: {error.message}")
                self._say(f"faas: {function.name} still runs its previous code; save again "
                          "to retry")  # fmt: skip
                continue
            if rolled:
                self._say(f"{function.name}: new code answering "
                          f"{max(0.0, self.clock() - saved):.1f}s after the save")  # fmt: skip
            else:
                self._say(f"{function.name}: the build is the one running: nothing to roll")

    def run(self, batches: Iterable[set[Path]]) -> None:
        """Handle batches until they end (Ctrl-C ends `file_changes`). "watching" is said
        at the first batch, empty or not: `file_changes` watches only once iterated, and a
        save before that would be lost."""
        announced = False
        for batch in batches:
            if not announced:
                folders = ", ".join(str(p) for p in self.folders())
                self._say(f"watching {folders} (Ctrl-C stops)")
                announced = True
            if batch:
                self.on_change(batch)

    def _saved_at(self, changed: set[Path], function: FunctionDefinition) -> float:
        """When the newest of the function's changed files was written (now if the change
        was a removal)."""
        assert function.handler is not None
        times = [
            p.stat().st_mtime
            for p in changed
            if p.resolve().is_relative_to(function.handler) and p.exists()
        ]
        return max(times) if times else self.clock()

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def file_changes(
    folders: Sequence[Path], ignore: Sequence[Path] = ()
) -> Generator[set[Path], None, None]:
    """Batches of changed paths under `folders`, from the OS's notifications (watchfiles;
    its default filter drops editor swap files, __pycache__ and .git). An empty batch
    comes first, once the watch has begun, then whenever nothing changed for a while."""
    dropped = [str(path.resolve()) for path in ignore]

    def wanted(change: object, path: str) -> bool:
        return not any(path.startswith(prefix) for prefix in dropped)

    default = DefaultFilter()
    for changes in watch(
        *folders,
        watch_filter=lambda change, path: default(change, path) and wanted(change, path),
        step=WATCH_STEP_MS,
        debounce=WATCH_DEBOUNCE_MS,
        rust_timeout=WATCH_STARTED_MS,
        yield_on_timeout=True,
    ):
        yield {Path(path) for _, path in changes}
