"""The web console in headless Chromium against a local gateway (no Docker).

The gateway runs in-process over an in-memory provider whose `cat` function is a real
watchdog, so the page's calls go all the way through the proxy. The browser is given no
credentials: the page's own login form is the way in. Screenshots are saved (to
docs/screenshots with FAAS_SCREENSHOTS=docs/screenshots, as the committed ones were).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from gateway.api_types.bodies import FunctionDeployment, ResourceSpec
from gateway.config import BasicAuthCredentials
from gateway.providers.base import Function, LogLine
from tests.browser import LAPTOP, PHONE, chromium, log_in, screenshot_folder
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.gateway.providers.memory_provider import MemoryProvider

USER, PASSWORD = "admin", "console-secret"
ALLOWED = "localhost/faas/"
HELLO = FunctionDeployment(
    service="hello",
    image=f"{ALLOWED}hello:1",
    env_process="cat",
    env_vars={"GREETING": "bonjour"},
    labels={"team": "docs"},
    annotations={"topic": "greetings"},
    constraints=("node.role == manager",),
    secrets=("api-key",),
    limits=ResourceSpec(memory=128 * 1024 * 1024, cpus=0.5),
    requests=ResourceSpec(memory=64 * 1024 * 1024),
    read_only_root_filesystem=True,
)
# The same name in a second namespace, called `hello.dev`.
DEV = "dev"
HELLO_DEV = FunctionDeployment(
    service="hello", namespace=DEV, image=f"{ALLOWED}hello-dev:1", env_process="cat"
)
# Bounded waits for what polling shows (every 2-3 s); a safety limit, not a measurement.
expect.set_options(timeout=20_000)


def log_line(text: str, function: str = "cat") -> LogLine:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return LogLine(function, "k3q9x0d2tz1m", now, text)


@pytest.fixture(scope="module")
def provider(cat_watchdog: BackgroundProcess) -> MemoryProvider:
    scaling = {"com.faas.scale.min": "1", "com.faas.scale.max": "5"}
    functions = [
        Function("cat", f"{ALLOWED}cat:latest", 1, "127.0.0.1", cat_watchdog.port,
                 labels={**scaling, "team": "docs"}, env_process="cat"),
        Function("sleepy", f"{ALLOWED}sleepy:latest", 0, "127.0.0.1", cat_watchdog.port,
                 labels={"com.faas.scale.zero": "true"}),
        Function("wordcount", f"{ALLOWED}wordcount:latest", 2, "127.0.0.1",
                 cat_watchdog.port, env_process="wc"),
        Function("heavy", f"{ALLOWED}heavy:latest", 0, "127.0.0.1", cat_watchdog.port,
                 labels={"com.faas.mode": "job"}),
    ]  # fmt: skip
    console = MemoryProvider(functions)
    console.jobs = {"heavy": 2}
    console.log_lines.append(log_line("Forking - cat []"))
    console.secrets["api-key"] = b"k"
    console.namespaces = {DEV}
    # Deployed through the API, with a definition a new image must keep.
    for deployment, service in ((HELLO, "hello"), (HELLO_DEV, "dev_hello")):
        with ThreadPoolExecutor(1) as thread:  # Playwright's loop may run on this one
            thread.submit(asyncio.run, console.deploy(deployment)).result()
        deployed = console.registry.lookup(service)
        assert deployed is not None
        console.registry.upsert(
            dataclasses.replace(
                deployed, upstream_host="127.0.0.1", upstream_port=cat_watchdog.port
            )
        )
    console.log_lines.append(log_line("a line of hello in dev", "dev_hello"))
    return console


@pytest.fixture(scope="module")
def console_gateway(provider: MemoryProvider) -> Iterator[GatewayThread]:
    with GatewayThread(
        provider,
        basic_auth=BasicAuthCredentials(USER, PASSWORD),
        image_allowlist=(ALLOWED,),
        functions_domain="faas.local",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, console_gateway: GatewayThread) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    try:
        opened = context.new_page()
        opened.goto(f"{console_gateway.url}/ui/")
        assert log_in(opened, USER, PASSWORD).status == 200
        expect(opened.get_by_role("heading", level=1)).to_have_text("Functions")
        yield opened
    finally:
        context.close()


def test_the_shell_loads_without_credentials_its_data_does_not(
    console_gateway: GatewayThread,
) -> None:
    browser_marks = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    with console_gateway.client() as client:
        shell = client.get("/ui/")
        script = client.get("/ui/app.js")
        bare = client.get("/ui")
        cli = client.get("/system/functions")
        from_page = client.get("/system/functions", headers=browser_marks)
        wrong = client.get("/system/functions", headers=browser_marks, auth=(USER, "wrong"))
        right = client.get("/system/functions", headers=browser_marks, auth=(USER, PASSWORD))
    assert shell.status_code == 200
    assert "<title>faas console</title>" in shell.text
    assert "default-src 'none'" in shell.headers["content-security-policy"]
    assert shell.headers["cross-origin-opener-policy"] == "same-origin"
    script_type = script.headers["content-type"].split(";")[0]
    assert script_type in ("text/javascript", "application/javascript")
    assert bare.status_code in (307, 308)
    assert bare.headers["location"].endswith("/ui/")
    # Command-line clients are challenged; browsers never are, so they keep nothing.
    assert cli.status_code == from_page.status_code == wrong.status_code == 401
    assert cli.headers["www-authenticate"].startswith('Basic realm="faas"')
    assert "www-authenticate" not in from_page.headers
    assert "www-authenticate" not in wrong.headers
    assert right.status_code == 200


def test_other_sites_are_refused(console_gateway: GatewayThread) -> None:
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    with console_gateway.client() as client:
        # A form posted from another site (text/plain carrying JSON), with the login.
        posted = client.post(
            "/system/secrets",
            headers={**evil, "Content-Type": "text/plain"},
            content=b'{"name": "x", "value": "y"}',
            auth=(USER, PASSWORD),
        )
        shell = client.get("/ui/", headers={"Sec-Fetch-Site": "cross-site"})
        same_site = client.get(
            "/system/functions", headers={"Sec-Fetch-Site": "same-site"}, auth=(USER, PASSWORD)
        )
        own = client.get(
            "/system/functions",
            headers={"Origin": console_gateway.url, "Sec-Fetch-Site": "same-origin"},
            auth=(USER, PASSWORD),
        )
    assert posted.status_code == 403
    assert "cross-site request refused" in posted.json()["error"]
    assert shell.status_code == 403
    assert shell.text.startswith("web console: cross-site request refused")
    assert same_site.status_code == 403
    assert own.status_code == 200


def test_a_link_on_another_site_opens_the_console(
    browser: Browser, console_gateway: GatewayThread
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        link = f'<a href="{console_gateway.url}/ui/">our console</a>'
        page.route("http://wiki.localhost/", lambda route: route.fulfill(
            body=link, content_type="text/html"))  # fmt: skip
        page.goto("http://wiki.localhost/")
        with page.expect_response(f"{console_gateway.url}/ui/") as opened:
            page.get_by_role("link", name="our console").click()
        assert opened.value.status == 200
        # The gateway gets Sec-Fetch-Site: cross-site, Sec-Fetch-Mode: navigate and
        # Sec-Fetch-Dest: document (Playwright's view of the request omits them).
        assert log_in(page, USER, PASSWORD).status == 200  # its own calls: same-origin
        expect(page.locator("tr[data-function=cat]")).to_be_visible()
    finally:
        context.close()


def test_console_without_credentials_configured_stays_closed(provider: MemoryProvider) -> None:
    with GatewayThread(provider) as gateway, gateway.client() as client:
        assert client.get("/ui/").status_code == 503


def test_every_console_answer_has_its_security_headers(console_gateway: GatewayThread) -> None:
    # A 404 of a missing file too: it is served on the console's origin like its pages.
    with console_gateway.client() as client:
        missing = client.get("/ui/no-such-file.html")
        traversal = client.get("/ui/..%2f..%2fREADME.md")
    for reply in (missing, traversal):
        assert reply.status_code == 404
        assert "default-src 'none'" in reply.headers["content-security-policy"]
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert "<" not in reply.text


def test_other_methods_on_ui_are_function_calls(console_gateway: GatewayThread) -> None:
    with console_gateway.client() as client:
        reply = client.post("/ui/", headers={"X-Function": "cat"}, content=b"hi")
    assert reply.status_code == 200
    assert reply.text == "hi"


def test_wrong_password_is_refused(browser: Browser, console_gateway: GatewayThread) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{console_gateway.url}/ui/")
        refused = log_in(page, USER, "nope")
        assert refused.status == 401
        assert "www-authenticate" not in refused.headers
        form = page.get_by_role("form", name="Log in")
        expect(form.get_by_role("alert")).to_have_text(
            "401: management API: wrong user name or password (HTTP basic auth)"
        )
        expect(form.get_by_label("Password")).to_be_focused()
        expect(page.locator("table.functions")).to_have_count(0)
        assert log_in(page, USER, PASSWORD).status == 200
        expect(page.locator("tr[data-function=cat]")).to_be_visible()
    finally:
        context.close()


def test_credentials_live_in_the_page_only(page: Page) -> None:
    expect(page.locator("tr[data-function=cat]")).to_be_visible()
    page.reload()
    expect(page.get_by_role("form", name="Log in")).to_be_visible()
    expect(page.get_by_label("User")).to_be_focused()
    log_in(page, USER, PASSWORD)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("form", name="Log in")).to_be_visible()
    expect(page.locator("table.functions")).to_have_count(0)


def test_lists_functions_with_state(page: Page) -> None:
    cat = page.locator("tr[data-function=cat]")
    expect(cat.locator(".col-replicas")).to_have_text("1/1")
    expect(cat.locator(".col-image")).to_have_text(f"{ALLOWED}cat:latest")
    sleepy = page.locator("tr[data-function=sleepy]")
    expect(sleepy.locator(".col-state")).to_contain_text("sleeping")
    expect(sleepy.locator(".col-state")).to_contain_text("to zero")
    expect(page.locator("tr[data-function=wordcount] .col-replicas")).to_have_text("2/2")
    expect(page.locator("th", has_text="Versions")).to_have_count(0)


def test_a_job_function_shows_its_jobs_not_replicas(page: Page, provider: MemoryProvider) -> None:
    heavy = page.locator("tr[data-function=heavy]")
    # No async calls on this gateway: the queue's count is unknown.
    expect(heavy.locator(".col-jobs")).to_have_text("2 running · ? queued")
    expect(heavy.locator(".col-state")).to_have_text("job")
    expect(page.locator("tr[data-function=cat] .col-jobs")).to_have_text("")
    expect(page.locator("th", has_text="Jobs")).to_have_count(1)

    def with_queued(route: Route) -> None:  # as a gateway with a broker answers
        record = route.fetch().json()
        record["jobs"]["queued"] = 1234
        route.fulfill(json=record)

    page.route("**/system/function/heavy", with_queued)
    page.goto(page.url.split("#")[0] + "#/functions/heavy")
    expect(page.get_by_test_id("jobs")).to_have_text("2 running · 1,234 queued")
    expect(page.get_by_test_id("replicas")).to_have_count(0)
    try:
        provider.jobs = {"heavy": 0}
        expect(page.get_by_test_id("jobs")).to_have_text("0 running · 1,234 queued")
    finally:
        provider.jobs = {"heavy": 2}


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


def test_function_page_shows_where_the_function_is_called(
    page: Page, console_gateway: GatewayThread
) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    urls = page.get_by_test_id("urls")
    expect(urls).to_contain_text(f"{console_gateway.url}/function/cat")
    expect(urls).to_contain_text("cat.faas.local")
    expect(urls).to_contain_text("Custom domainsNone.")


def test_function_page_shows_the_triggers(page: Page) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/hello")
    triggers = page.get_by_test_id("triggers")  # its OpenFaaS `topic` annotation
    expect(triggers).to_contain_text("topictopics greetings, async")


def test_function_page_follows_logs(page: Page, provider: MemoryProvider) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    logs = page.get_by_test_id("logs")
    expect(logs).to_contain_text("Forking - cat []")
    provider.log_lines.append(log_line("a line written while the page follows"))
    expect(logs).to_contain_text("a line written while the page follows")


def test_function_page_scales(page: Page, provider: MemoryProvider) -> None:
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
    page.goto(page.url.split("#")[0] + "#/functions/hello")
    deploy = page.get_by_role("form", name="Deploy a new image of hello")
    deploy.get_by_label("Image").fill("evil.example.com/hello:1")
    deploy.get_by_role("button", name="Deploy").click()
    expect(deploy.get_by_role("alert")).to_have_text(
        "403: image 'evil.example.com/hello:1' is not allowed: images must start with "
        "'localhost/faas/' (GATEWAY_IMAGE_ALLOWLIST)"
    )


def test_deploy_keeps_the_rest_of_the_definition(page: Page, provider: MemoryProvider) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/hello")
    deploy = page.get_by_role("form", name="Deploy a new image of hello")
    expect(deploy.get_by_label("Image")).to_have_value(f"{ALLOWED}hello:1")
    deploy.get_by_label("Image").fill(f"{ALLOWED}hello:2")
    deploy.get_by_role("button", name="Deploy").click()
    expect(deploy.get_by_role("status")).to_have_text("updating function 'hello'")
    assert provider.deployments["hello"] == HELLO.model_copy(update={"image": f"{ALLOWED}hello:2"})


def test_a_stacks_function_is_updated_by_its_stack(page: Page) -> None:
    page.goto(page.url.split("#")[0] + "#/functions/cat")
    expect(page.get_by_test_id("stack-note")).to_contain_text("not through the API")
    expect(page.get_by_role("form", name="Deploy a new image of cat")).to_have_count(0)
    expect(page.get_by_role("form", name="Scale cat")).to_be_visible()


def test_the_namespace_picker_keeps_its_choice_in_the_address(page: Page) -> None:
    picker = page.get_by_role("combobox", name="Namespace")
    expect(picker).to_have_value("openfaas-fn")
    expect(picker.locator("option")).to_have_text(["openfaas-fn (default)", DEV])
    hello = page.locator("tr[data-function=hello]")
    expect(hello.locator(".col-image")).to_have_text(re.compile(r"/hello:\d$"))
    picker.select_option(DEV)
    expect(page).to_have_url(re.compile(r"#/\?namespace=dev$"))
    expect(hello.locator(".col-image")).to_have_text(re.compile(r"/hello-dev:\d$"))
    expect(page.locator("tr[data-function=cat]")).to_have_count(0)
    expect(hello.get_by_role("link")).to_have_attribute("href", "#/functions/hello.dev")
    page.reload()  # as a shared link opens: the namespace it names, once logged in
    log_in(page, USER, PASSWORD)
    expect(picker).to_have_value(DEV)
    expect(hello.locator(".col-image")).to_have_text(re.compile(r"/hello-dev:\d$"))
    page.go_back()
    expect(picker).to_have_value("openfaas-fn")
    expect(page.locator("tr[data-function=cat]")).to_be_visible()


def test_the_namespace_picker_works_from_the_keyboard(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    page.keyboard.press("Tab")
    picker = page.get_by_role("combobox", name="Namespace")
    expect(picker).to_be_focused()
    # The options come from the namespaces' list: a key pressed before it arrives (a busy
    # machine) would move within the default alone.
    expect(picker.locator("option")).to_have_count(2)
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(r"#/\?namespace=dev$"))
    expect(page.locator("tr[data-function=hello] .col-image")).to_have_text(
        re.compile(r"/hello-dev:\d$")
    )
    expect(picker).to_be_focused()  # the list changed in place, the picker kept


def test_the_picker_shows_the_default_namespace_when_it_is_the_only_one(
    page: Page, provider: MemoryProvider
) -> None:
    try:
        provider.namespaces = set()
        page.reload()
        log_in(page, USER, PASSWORD)
        picker = page.get_by_role("combobox", name="Namespace")
        expect(picker.locator("option")).to_have_text(["openfaas-fn (default)"])
        expect(picker).to_have_value("openfaas-fn")
    finally:
        provider.namespaces = {DEV}


def test_an_unknown_namespace_in_the_address_is_said(page: Page) -> None:
    page.goto(page.url.split("#")[0] + "#/?namespace=nope")
    expect(page.get_by_role("alert")).to_have_text(
        "404: namespace 'nope' not found: this gateway has 'openfaas-fn', 'dev'"
    )
    expect(page.locator("table.functions tbody tr")).to_have_count(0)
    page.get_by_role("combobox", name="Namespace").select_option(DEV)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("tr[data-function=hello]")).to_be_visible()


def test_a_namespaced_functions_page(
    page: Page, provider: MemoryProvider, console_gateway: GatewayThread
) -> None:
    page.goto(page.url.split("#")[0] + "#/?namespace=dev")
    page.get_by_role("link", name="hello", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/functions/hello\.dev$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("hello")
    namespace = page.get_by_test_id("namespace")
    expect(namespace).to_have_text("Namespace: dev")
    expect(page.get_by_test_id("urls")).to_contain_text(f"{console_gateway.url}/function/hello.dev")
    invoke = page.get_by_role("form", name="Invoke hello.dev")
    invoke.get_by_label("Body").fill("hello from dev")
    invoke.get_by_role("button", name="Invoke").click()
    expect(page.get_by_test_id("invoke-body")).to_have_text("hello from dev")
    expect(page.get_by_test_id("invocations")).not_to_have_text("0")
    expect(page.get_by_test_id("logs")).to_contain_text("a line of hello in dev")
    expect(page.get_by_test_id("logs")).not_to_contain_text("Forking - cat")
    scale = page.get_by_role("form", name="Scale hello.dev")
    scale.get_by_label("Replicas").fill("2")
    scale.get_by_role("button", name="Scale").click()
    expect(scale.get_by_role("status")).to_have_text("scaling function 'hello.dev' to 2")
    expect(page.get_by_test_id("replicas")).to_have_text("2/2")
    deploy = page.get_by_role("form", name="Deploy a new image of hello.dev")
    expect(deploy.get_by_label("Image")).to_have_value(re.compile(r"/hello-dev:\d$"))
    deploy.get_by_label("Image").fill(f"{ALLOWED}hello-dev:2")
    deploy.get_by_role("button", name="Deploy").click()
    expect(deploy.get_by_role("status")).to_have_text("updating function 'hello.dev'")
    assert provider.deployments["dev_hello"] == HELLO_DEV.model_copy(
        update={"image": f"{ALLOWED}hello-dev:2"}
    )
    namespace.get_by_role("link", name="dev").click()  # back to its namespace's list
    expect(page.get_by_role("combobox", name="Namespace")).to_have_value(DEV)
    expect(page.locator("tr[data-function=hello] .col-replicas")).to_have_text("2/2")
    expect(page.locator("tr[data-function=hello] .col-rate")).not_to_have_text("0/s")  # its call


def test_keyboard_reaches_a_function_page(page: Page) -> None:
    expect(page.locator("tr[data-function=cat]")).to_be_visible()
    # The login moved focus to the heading; back from it: the header, the skip link first.
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Log out")).to_be_focused()
    for _ in range(3):  # the nav's link, the brand's, then the skip link
        page.keyboard.press("Shift+Tab")
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
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    try:
        small = phone.new_page()
        small.goto(f"{console_gateway.url}/ui/")
        small.screenshot(path=folder / "console-login.png")
        log_in(small, USER, PASSWORD)
        expect(small.locator("tr[data-function=cat] .col-replicas")).to_have_text("1/1")
        small.screenshot(path=folder / "console-phone.png")
    finally:
        phone.close()
    assert (folder / "console-function.png").stat().st_size > 0
