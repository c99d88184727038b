"""What the worker processes of one gateway share: a folder, tables in it, locks on it.

`folder.SharedDir` names the files (made per start by `gateway.workers`); `table.SharedTable`
is the one format for shared key/value state (bounded, expiring entries, written whole
under a lock, read from memory on the hot path); `lock.FileLock` elects one process
(the autoscaler, the waker of a function). The folder also holds prometheus-client's
multiprocess files, in that library's own format (rendered by `gateway.metrics`).

A leaf: it imports nothing of the gateway, so every layer may use it.
"""

from __future__ import annotations

from gateway.shared.folder import SharedDir
from gateway.shared.lock import FileLock
from gateway.shared.table import Entry, SharedTable

__all__ = ["Entry", "FileLock", "SharedDir", "SharedTable"]
