"""The web console in headless Chromium against a local gateway (no Docker).

The gateway runs in-process over an in-memory provider whose `cat` function is a real
watchdog, so the page's calls go all the way through the proxy. Screenshots are saved
(to docs/screenshots with FAAS_SCREENSHOTS=docs/screenshots, as the committed ones were).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function, LogLine
from tests.browser import LAPTOP, PHONE, chromium, screenshot_folder
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.gateway.providers.memory_provider import MemoryProvider

USER, PASSWORD = "admin", "console-secret"
ALLOWED = "localhost/faas/"
# Bounded waits for what polling shows (every 2-3 s); a safety limit, not a measurement.
expect.set_options(timeout=20_000)


class ConsoleProvider(MemoryProvider):
    """`MemoryProvider` whose scaling keeps a function's port (its replicas stay reachable)."""

    async def scale(self, name: str, replicas: int) -> None:
        function = self._find(name)
        self.registry.upsert(
            Function(
                function.name, function.image, replicas, function.upstream_host,
                function.upstream_port, labels=function.labels,
                env_process=function.env_process,
            )
        )  # fmt: skip


def log_line(text: str) -> LogLine:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return LogLine("cat", "k3q9x0d2tz1m", now, text)


@pytest.fixture(scope="module")
def provider(cat_watchdog: BackgroundProcess) -> ConsoleProvider:
    scaling = {"com.faas.scale.min": "1", "com.faas.scale.max": "5"}
    functions = [
        Function("cat", f"{ALLOWED}cat:latest", 1, "127.0.0.1", cat_watchdog.port,
                 labels={**scaling, "team": "docs"}, env_process="cat"),
        Function("sleepy", f"{ALLOWED}sleepy:latest", 0, "127.0.0.1", cat_watchdog.port,
                 labels={"com.faas.scale.zero": "true"}),
        Function("wordcount", f"{ALLOWED}wordcount:latest", 2, "127.0.0.1",
                 cat_watchdog.port, env_process="wc"),
    ]  # fmt: skip
    console = ConsoleProvider(functions)
    console.log_lines.append(log_line("Forking - cat []"))
    return console


@pytest.fixture(scope="module")
def console_gateway(provider: ConsoleProvider) -> Iterator[GatewayThread]:
    with GatewayThread(
        provider,
        basic_auth=BasicAuthCredentials(USER, PASSWORD),
        image_allowlist=(ALLOWED,),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, console_gateway: GatewayThread) -> Iterator[Page]:
    context = browser.new_context(
        viewport=LAPTOP, http_credentials={"username": USER, "password": PASSWORD}
    )
    try:
        opened = context.new_page()
        opened.goto(f"{console_gateway.url}/ui/")
        yield opened
    finally:
        context.close()


def test_console_is_behind_the_management_auth(console_gateway: GatewayThread) -> None:
    with console_gateway.client() as client:
        anonymous = client.get("/ui/")
        wrong = client.get("/ui/", auth=(USER, "wrong"))
        right = client.get("/ui/", auth=(USER, PASSWORD))
        script = client.get("/ui/app.js", auth=(USER, PASSWORD))
        bare = client.get("/ui")
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith('Basic realm="faas"')
    assert "web console" in wrong.text
    assert right.status_code == 200
    assert "<title>faas console</title>" in right.text
    assert "default-src 'none'" in right.headers["content-security-policy"]
    script_type = script.headers["content-type"].split(";")[0]
    assert script_type in ("text/javascript", "application/javascript")
    assert bare.status_code in (307, 308)
    assert bare.headers["location"].endswith("/ui/")


def test_console_without_credentials_configured_stays_closed(provider: ConsoleProvider) -> None:
    with GatewayThread(provider) as gateway, gateway.client() as client:
        assert client.get("/ui/").status_code == 503


def test_other_methods_on_ui_are_function_calls(console_gateway: GatewayThread) -> None:
    with console_gateway.client() as client:
        reply = client.post("/ui/", headers={"X-Function": "cat"}, content=b"hi")
    assert reply.status_code == 200
    assert reply.text == "hi"


def test_wrong_password_is_refused(browser: Browser, console_gateway: GatewayThread) -> None:
    context = browser.new_context(http_credentials={"username": USER, "password": "nope"})
    try:
        response = context.new_page().goto(f"{console_gateway.url}/ui/")
        assert response is not None
        assert response.status == 401
    finally:
        context.close()


def test_lists_functions_with_state(page: Page) -> None:
    cat = page.locator("tr[data-function=cat]")
    expect(cat.locator(".col-replicas")).to_have_text("1/1")
    expect(cat.locator(".col-image")).to_have_text(f"{ALLOWED}cat:latest")
    sleepy = page.locator("tr[data-function=sleepy]")
    expect(sleepy.locator(".col-state")).to_contain_text("sleeping")
    expect(sleepy.locator(".col-state")).to_contain_text("to zero")
    expect(page.locator("tr[data-function=wordcount] .col-replicas")).to_have_text("2/2")
    expect(page.locator("th", has_text="Versions")).to_have_count(0)


def test_invocations_rise_in_the_list(page: Page, console_gateway: GatewayThread) -> None:
    invocations = page.locator("tr[data-function=wordcount] .col-invocations")
    expect(invocations).not_to_have_text("")
    before = int(invocations.inner_text().replace(",", ""))
    with console_gateway.client() as client:
        for _ in range(3):
            assert client.post("/function/wordcount", content=b"a b").status_code == 200
    expect(invocations).to_have_text(str(before + 3))


def test_function_page_invokes_and_shows_the_answer(page: Page) -> None:
    page.get_by_role("link", name="cat", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("cat")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    invoke = page.get_by_role("form", name="Invoke cat")
    invoke.get_by_label("Body").fill("hello from the console")
    invoke.get_by_label("Headers").fill("X-Test: yes")
    invoke.get_by_role("button", name="Invoke").click()
    expect(page.get_by_test_id("invoke-status")).to_have_text("200 OK")
    expect(page.get_by_test_id("invoke-body")).to_have_text("hello from the console")
    expect(page.get_by_test_id("invocations")).not_to_have_text("0")


def test_function_page_follows_logs(page: Page, provider: ConsoleProvider) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    logs = page.get_by_test_id("logs")
    expect(logs).to_contain_text("Forking - cat []")
    provider.log_lines.append(log_line("a line written while the page follows"))
    expect(logs).to_contain_text("a line written while the page follows")


def test_function_page_scales(page: Page, provider: ConsoleProvider) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/wordcount")
    expect(page.get_by_test_id("replicas")).to_have_text("2/2")
    scale = page.get_by_role("form", name="Scale wordcount")
    scale.get_by_label("Replicas").fill("3")
    scale.get_by_role("button", name="Scale").click()
    expect(scale.get_by_role("status")).to_have_text("scaling function 'wordcount' to 3")
    expect(page.get_by_test_id("replicas")).to_have_text("3/3")
    assert provider.lookup("wordcount") is not None
    scale.get_by_label("Replicas").fill("2")
    scale.get_by_role("button", name="Scale").click()
    expect(page.get_by_test_id("replicas")).to_have_text("2/2")


def test_deploy_outside_the_allow_list_shows_the_api_message(page: Page) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    deploy = page.get_by_role("form", name="Deploy a new image of cat")
    deploy.get_by_label("Image").fill("evil.example.com/cat:1")
    deploy.get_by_role("button", name="Deploy").click()
    expect(deploy.get_by_role("alert")).to_have_text(
        "403: image 'evil.example.com/cat:1' is not allowed: images must start with "
        "'localhost/faas/' (GATEWAY_IMAGE_ALLOWLIST)"
    )


def test_keyboard_reaches_a_function_page(page: Page) -> None:
    expect(page.locator("tr[data-function=cat]")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("link", name="cat", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("cat")


def test_screenshots(
    page: Page,
    browser: Browser,
    console_gateway: GatewayThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = screenshot_folder(tmp_path_factory.mktemp("screenshots"))
    with console_gateway.client() as client:
        for text in ("one", "two words", "three more words"):
            client.post("/function/cat", content=text.encode())
    expect(page.locator("tr[data-function=cat] .col-rate")).not_to_have_text("0/s")
    page.screenshot(path=folder / "console-functions.png", full_page=True)
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    invoke = page.get_by_role("form", name="Invoke cat")
    invoke.get_by_label("Body").fill('{"hello": "console"}')
    invoke.get_by_role("button", name="Invoke").click()
    expect(page.get_by_test_id("invoke-body")).to_have_text('{"hello": "console"}')
    expect(page.get_by_test_id("logs")).to_contain_text("Forking")
    # A few polls, so that the charts have lines to show.
    expect(page.locator("path.line.s1").first).to_have_attribute("d", re.compile(r"L.*L.*L"))
    page.screenshot(path=folder / "console-function.png", full_page=True)
    phone = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True,
        http_credentials={"username": USER, "password": PASSWORD},
    )  # fmt: skip
    try:
        small = phone.new_page()
        small.goto(f"{console_gateway.url}/ui/")
        expect(small.locator("tr[data-function=cat] .col-replicas")).to_have_text("1/1")
        small.screenshot(path=folder / "console-phone.png")
    finally:
        phone.close()
    assert (folder / "console-function.png").stat().st_size > 0
