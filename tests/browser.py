"""Headless Chromium for the web console's tests: Debian's `chromium`, driven by Playwright.

Playwright's Python wheel carries its own driver, so `pip install` is all it needs; the
browser is the system's (scripts/browser.sh installs it), never one Playwright downloads.
Without either the tests skip, and fail under `CI=true` (`tests.support.require_tool`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import require_tool

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response, ViewportSize

# No sandbox: the tests run as root in containers, where Chromium's sandbox cannot start.
# The rest keeps the browser from calling home or updating itself while tested.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on exit; skipped (failed in CI) when it cannot start."""
    executable = require_tool("chromium", "scripts/browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed (make venv installs it): CI must run this")
        pytest.skip("playwright is not installed (make venv installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_folder(default: Path) -> Path:
    """Where the console's tests save their screenshots: `FAAS_SCREENSHOTS` if set (e.g.
    docs/screenshots, to refresh the committed ones), else `default`."""
    chosen = os.environ.get("FAAS_SCREENSHOTS")
    folder = Path(chosen) if chosen else default
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Page, user: str, password: str) -> Response:
    """Fill in and send the console's login form; the gateway's answer to the check."""
    form = page.get_by_role("form", name="Log in")
    form.get_by_label("User").fill(user)
    form.get_by_label("Password").fill(password)
    with page.expect_response(lambda answer: "/system/" in answer.url) as checked:
        form.get_by_label("Password").press("Enter")  # the keyboard's way in
    return checked.value
