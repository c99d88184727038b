"""The management API's own check of a deployment: the image allowlist."""

from __future__ import annotations

import pytest

from gateway.management.api import image_allowed


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
