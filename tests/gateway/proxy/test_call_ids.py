"""Call ids read as `str(uuid.uuid4())` does: version 4, RFC variant, never repeated."""

from __future__ import annotations

import uuid

from gateway.proxy.call_ids import new_call_id


def test_call_ids_are_random_uuids_in_text() -> None:
    ids = [new_call_id() for _ in range(2000)]  # several refills of the pool
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
