"""The functions' endpoints' own rules (the HTTP round trips are in test_api.py)."""

from __future__ import annotations

import pytest

from gateway.management.functions import image_allowed


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example.com/team/x:1", True),
        ("registry.example.com.evil.io/team/x:1", False),
        ("registry.example.comx/y", False),
        ("localhost/faas/cat:latest", True),
        ("localhost/faasx/cat:latest", False),
        ("busybox", False),
    ],
)
def test_allowlist_matches_at_a_name_boundary(image: str, allowed: bool) -> None:
    assert image_allowed(image, ("registry.example.com", "localhost/faas/")) is allowed
