"""Call ids: random (version 4) UUIDs in their text form, as `str(uuid.uuid4())` makes them.

Every call without an `X-Call-Id` of its own gets one. `uuid.uuid4` asks the kernel for 16
random bytes and builds a `UUID` object per call; here the same random bytes come from a
pool read from `os.urandom` a few hundred calls at a time, and are formatted directly.
The pool is dropped in a forked child, so two processes never hand out the same ids.
"""

from __future__ import annotations

import os

_POOL_BYTES = 16 * 256

_pool = b""
_taken = 0


def new_call_id() -> str:
    """A new random UUID (version 4, RFC 9562 variant) as 36 characters of text."""
    global _pool, _taken
    if _taken >= len(_pool):
        _pool, _taken = os.urandom(_POOL_BYTES), 0
    raw = bytearray(_pool[_taken : _taken + 16])
    _taken += 16
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _forget_pool() -> None:
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)
