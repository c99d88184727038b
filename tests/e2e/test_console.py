"""The web console in headless Chromium against the deployed stack.

Log in (the console's own form), see the stack's functions, invoke catservice and see
the echoed body, watch its invocation count rise, follow its logs, scale it to 2 and see
both replicas (and their logs), a wrong password refused, an image off the allow-list
refused with the API's message. Screenshots as tests/browser.py `screenshot_folder` says.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import LAPTOP, chromium, log_in, screenshot_folder
from tests.e2e.conftest import Platform, credentials, running_task_ids, wait_for

# What polling shows comes within a few seconds; this is the safety limit on a busy swarm.
expect.set_options(timeout=60_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def auth() -> tuple[str, str]:
    return credentials()


@pytest.fixture(scope="module")
def catservice(client: httpx.Client, auth: tuple[str, str]) -> Iterator[str]:
    """catservice's full name; its replicas are set back to 1 afterwards."""
    described = client.get("/system/function/catservice", auth=auth)
    assert described.status_code == 200, described.text
    name: str = described.json()["name"]
    yield name
    client.post(f"/system/scale-function/{name}", json={"replicas": 1}, auth=auth)


@pytest.fixture
def page(browser: Browser, platform: Platform, auth: tuple[str, str]) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    try:
        opened = context.new_page()
        response = opened.goto(f"{platform.gateway_url}/ui/")
        assert response is not None
        assert response.status == 200
        assert log_in(opened, *auth).status == 200
        expect(opened.get_by_role("heading", level=1)).to_have_text("Functions")
        yield opened
    finally:
        context.close()


def row(name: str) -> str:
    return f"tr[data-function='{name}']"


def test_wrong_password_is_refused(
    browser: Browser, platform: Platform, auth: tuple[str, str]
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{platform.gateway_url}/ui/")
        refused = log_in(page, auth[0], "wrong")
        assert refused.status == 401
        assert "www-authenticate" not in refused.headers  # nothing for the browser to keep
        form = page.get_by_role("form", name="Log in")
        expect(form.get_by_role("alert")).to_contain_text("wrong user name or password")
        expect(page.locator("table.functions")).to_have_count(0)
    finally:
        context.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: a temporary folder, or `FAAS_SCREENSHOTS`."""
    return screenshot_folder(tmp_path_factory.mktemp("screenshots"))


def test_lists_the_stack_functions(page: Page, catservice: str, screenshots: Path) -> None:
    expect(page.locator(row(catservice))).to_be_visible()
    for sample in ("wordcount", "base64"):
        expect(page.locator(f"tr[data-function$='{sample}']")).to_have_count(1)
    expect(page.locator(f"{row(catservice)} .col-state")).to_contain_text("ready")
    page.screenshot(path=screenshots / "console-functions.png", full_page=True)


def test_invocation_count_rises(page: Page, client: httpx.Client, catservice: str) -> None:
    invocations = page.locator(f"{row(catservice)} .col-invocations")
    expect(invocations).not_to_have_text("")
    before = int(invocations.inner_text().replace(",", ""))
    for _ in range(3):
        assert client.post("/function/catservice", content=b"purr").status_code == 200

    def risen() -> bool:
        return int(invocations.inner_text().replace(",", "")) >= before + 3

    wait_for(risen, "the list's invocation count to rise by 3")


def test_invoke_shows_the_echoed_body(page: Page, catservice: str) -> None:
    page.get_by_role("link", name=catservice, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(catservice)
    invoke = page.get_by_role("form", name=f"Invoke {catservice}")
    invoke.get_by_label("Body").fill("meow from the console")
    invoke.get_by_role("button", name="Invoke").click()
    expect(page.get_by_test_id("invoke-status")).to_have_text("200 OK")
    expect(page.get_by_test_id("invoke-body")).to_have_text("meow from the console")
    # A stack's function is updated by its stack: no form that would always fail.
    expect(page.get_by_test_id("stack-note")).to_contain_text("not through the API")


def test_scale_to_two_and_follow_both_replicas_logs(
    page: Page, platform: Platform, catservice: str, screenshots: Path
) -> None:
    page.goto(f"{page.url.split('#')[0]}#/functions/{catservice}")
    logs = page.get_by_test_id("logs")
    # Any line: the replica's own start line may be older than the last 100 after the
    # calls of earlier tests (the watchdog logs each call).
    expect(logs.locator(".line").first).to_be_visible()
    expect(page.get_by_test_id("replicas")).to_have_text("1/1")
    service = platform.service_name("catservice")
    before = running_task_ids(service)
    scale = page.get_by_role("form", name=f"Scale {catservice}")
    scale.get_by_label("Replicas").fill("2")
    scale.get_by_role("button", name="Scale").click()
    expect(scale.get_by_role("status")).to_contain_text("to 2")
    expect(page.get_by_test_id("replicas")).to_have_text("2/2")
    # The new replica's own lines (its task id's, as the page shortens it) reach the page
    # through the followed log: not just more lines, which the old replica could add.
    new_tasks = running_task_ids(service) - before  # one, or more if Swarm replaced it
    assert new_tasks, "no new task after the scale to 2"
    own = [logs.locator(".line").filter(has=page.locator(".instance", has_text=task[:6]))
           for task in new_tasks]  # fmt: skip
    wait_for(lambda: any(lines.count() > 0 for lines in own),
             "the new replica's line in the followed log")  # fmt: skip
    # Polls enough for a chart's line before the screenshot.
    expect(page.locator("path.line.s1").first).to_have_attribute("d", re.compile("L"))
    page.screenshot(path=screenshots / "console-function.png", full_page=True)


@pytest.fixture
def api_function(client: httpx.Client, auth: tuple[str, str]) -> Iterator[str]:
    """A function deployed through the API (a stack's functions are the stack's to update)."""
    name = f"e2e-console-{uuid.uuid4().hex[:6]}"
    reply = client.post(
        "/system/functions",
        json={"service": name, "image": "localhost/faas/catservice:latest"},
        auth=auth,
    )
    assert reply.status_code == 202, reply.text
    try:
        yield name
    finally:
        client.request("DELETE", "/system/functions", json={"functionName": name}, auth=auth)


def test_image_off_the_allow_list_is_refused(page: Page, api_function: str) -> None:
    page.goto(f"{page.url.split('#')[0]}#/functions/{api_function}")
    deploy = page.get_by_role("form", name=f"Deploy a new image of {api_function}")
    deploy.get_by_label("Image").fill("docker.io/library/alpine:3")
    deploy.get_by_role("button", name="Deploy").click()
    alert = deploy.get_by_role("alert")
    expect(alert).to_contain_text("403: image 'docker.io/library/alpine:3' is not allowed")
    expect(alert).to_contain_text("GATEWAY_IMAGE_ALLOWLIST")
