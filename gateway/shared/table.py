"""`SharedTable`: what one worker process learns, every worker of the gateway reads.

A few entries that expire (a key, a short text, and when it was learnt and until when it
holds), kept in one small file of the workers' shared folder (`SharedDir`). The gateway uses
four: the addresses that refused a connection (`proxy/replicas.py`), the functions whose
new replica failed to start, so that one worker's failed connect or failed wait spares
the others the same lesson, the functions being scaled to zero (both in
`scaling/cold_start.py`), and the floors of Alertmanager's alerts
(`scaling/alert_floors.py`).

Writing is rare (after a failure): under an exclusive `flock` on a lock file beside it,
the file is read, pruned of expired entries, bounded to `limit` entries (those that
expire last are kept), written whole and renamed into place, so readers never see half a
file. Reading is on the hot path: `entries` answers from memory and looks at the file
(one `stat`) at most every `recheck` seconds, reading it again only when it changed.
A missing, oversized or garbled file reads as no entries: the memory is an optimisation,
losing it only costs a worker the lesson again.

Times in the file are wall-clock (`time.time`): every process on the machine shares it.
An entry is in force from when it was learnt until it expires; a clock stepped back
before it was learnt ends it early, which is the safe side.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 256 * 1024
MAX_VALUE_CHARS = 1024
DEFAULT_LIMIT = 128
RECHECK_SECONDS = 0.1


@dataclass(frozen=True)
class Entry:
    """What was learnt (`value`), when (`learnt`) and until when it holds (`until`)."""

    value: str
    learnt: float
    until: float

    def in_force(self, now: float) -> bool:
        """Whether the entry holds at wall-clock time `now`."""
        return self.learnt <= now < self.until


class SharedTable:
    """Expiring entries in the file `path`, shared by every process that opens it."""

    def __init__(
        self,
        path: Path,
        *,
        limit: int = DEFAULT_LIMIT,
        recheck: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._lock = path.with_name(f"{path.name}.lock")
        self._limit = limit
        self._recheck = recheck
        self._clock = clock
        self._monotonic = monotonic
        self._entries: dict[str, Entry] = {}
        self._seen: tuple[int, int, int] | None = None  # the file's (mtime, inode, size)
        self._next_check = float("-inf")

    def entries(self) -> Mapping[str, Entry]:
        """The entries in force (as of the last look at the file: at most `recheck`
        seconds ago). Cheap between looks: what the hot path reads."""
        now = self._monotonic()
        if now >= self._next_check:
            self._next_check = now + self._recheck
            self._refresh()
        return self._entries

    def get(self, key: str) -> Entry | None:
        """`key`'s entry if it is in force now."""
        entry = self.entries().get(key)
        if entry is None or not entry.in_force(self._clock()):
            return None
        return entry

    def put(self, key: str, value: str, seconds: float) -> None:
        """Record `value` under `key` for `seconds` from now, for every process.

        Not rewritten while the same entry still holds for more than half of `seconds`:
        many calls failing at once on one dead address cost one write, not one each."""
        value = value[:MAX_VALUE_CHARS]
        held = self.get(key)
        if held is not None and held.value == value and held.until - self._clock() > seconds / 2:
            return
        with self._locked():
            # Read the clock once the lock is ours: entries written while we waited for
            # it were learnt after any earlier reading and must not look like the future.
            now = self._clock()
            entries = self._unexpired(now)
            entries[key] = Entry(value, now, now + seconds)
            self._write(entries)
        self._next_check = float("-inf")  # our own write shows at the next read

    def remove(self, key: str) -> None:
        """End `key`'s entry now, for every process."""
        with self._locked():
            entries = self._unexpired(self._clock())
            if entries.pop(key, None) is None:
                return
            self._write(entries)
        self._next_check = float("-inf")

    def _unexpired(self, now: float) -> dict[str, Entry]:
        return {k: e for k, e in _read(self.path).items() if e.until > now}

    def _write(self, entries: dict[str, Entry]) -> None:
        """Replace the file with `entries` (under the lock): those that expire last are
        kept, at most `limit`, in a file readers accept."""
        kept = sorted(entries.items(), key=lambda item: item[1].until)[-self._limit :]
        encoded = _encode(dict(kept))
        while len(encoded) > MAX_FILE_BYTES and len(kept) > 1:
            kept = kept[1 + (len(kept) - 1) // 8 :]  # drop the first eighth, or one
            encoded = _encode(dict(kept))
        temporary = self.path.with_name(f".{self.path.name}-{os.getpid()}")
        temporary.write_bytes(encoded)
        temporary.replace(self.path)

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError:
            self._seen = None
            self._entries = {}
            return
        seen = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
        if seen != self._seen:
            self._seen = seen
            self._entries = _read(self.path)
        if self._entries:
            now = self._clock()
            if not all(entry.in_force(now) for entry in self._entries.values()):
                # Pruned in memory, so the hot path sees an empty table again once every
                # entry has expired, whether or not anyone rewrites the file.
                self._entries = {k: e for k, e in self._entries.items() if e.in_force(now)}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for one small read and write
            yield
        finally:
            os.close(fd)


def _encode(entries: Mapping[str, Entry]) -> bytes:
    table = {key: [e.learnt, e.until, e.value] for key, e in entries.items()}
    return json.dumps(table, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _read(path: Path) -> dict[str, Entry]:
    """The file's entries; {} when it is missing, too large or not what we write."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError:
        return {}
    if len(data) > MAX_FILE_BYTES:
        return {}
    try:
        parsed: Any = json.loads(data)
    except (ValueError, RecursionError):  # also UnicodeDecodeError; nested too deep
        return {}
    if not isinstance(parsed, dict):
        return {}
    entries: dict[str, Entry] = {}
    for key, fields in parsed.items():
        if (
            isinstance(fields, list)
            and len(fields) == 3
            and all(isinstance(f, int | float) and not isinstance(f, bool) for f in fields[:2])
            and isinstance(fields[2], str)
        ):
            try:
                learnt, until = float(fields[0]), float(fields[1])
            except OverflowError:  # an int too large for a float
                continue
            if math.isfinite(learnt) and math.isfinite(until):
                entries[key] = Entry(fields[2], learnt, until)
    return entries
