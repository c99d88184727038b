"""Browsers at /system and /ui: cross-site requests refused, no basic-auth challenge."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from gateway.config import BasicAuthCredentials
from gateway.http_errors import ErrorFormat
from gateway.management.auth import RequireBasicAuth
from gateway.management.browsers import SameOriginOnly, cross_site_problem, own_origin

CREDENTIALS = BasicAuthCredentials("admin", "pw")
AUTH = ("admin", "pw")


def scope(headers: dict[str, str], scheme: str = "http") -> dict[str, Any]:
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "scheme": scheme, "headers": encoded, "server": ("10.0.0.1", 8080)}


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def call(app: Any, method: str, headers: dict[str, str], auth: Any = None) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw:8080") as client:
            return await client.request(method, "/system/secrets", headers=headers, auth=auth)

    return asyncio.run(run())


def test_own_origin_from_the_host_header_or_the_server() -> None:
    assert own_origin(scope({"Host": "GW.example:8080"})) == "http://gw.example:8080"
    assert own_origin(scope({"Host": "gw.example:443"}, "https")) == "https://gw.example"
    assert own_origin(scope({"Host": "gw.example:80"})) == "http://gw.example"
    assert own_origin(scope({})) == "http://10.0.0.1:8080"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "gw:8080"},  # curl, faas-cli, our CLI: neither header
        {"Host": "gw:8080", "Origin": "http://gw:8080"},
        {"Host": "gw:8080", "Origin": "HTTP://GW:8080", "Sec-Fetch-Site": "same-origin"},
        {"Host": "gw", "Origin": "http://gw:80"},
        {"Host": "gw:8080", "Sec-Fetch-Site": "none"},  # typed in the address bar
        {"Host": "gw:8080", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
    ],
)
def test_same_origin_and_non_browser_requests_pass(headers: dict[str, str]) -> None:
    assert cross_site_problem(scope(headers)) is None


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Host": "gw:8080", "Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"Host": "gw:8080", "Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site: same-site"),
        ({"Host": "gw:8080", "Origin": "http://evil.example"}, "'http://evil.example'"),
        ({"Host": "gw:8080", "Origin": "https://gw:8080"}, "is not the gateway's own"),
        ({"Host": "gw:8080", "Origin": "http://gw:8081"}, "is not the gateway's own"),
        ({"Host": "gw:8080", "Origin": "null"}, "'null'"),
        ({"Host": "gw:8080", "Origin": "http://gw:8080/x"}, "is not the gateway's own"),
        (
            {"Host": "gw:8080", "Origin": "http://gw:8080", "Sec-Fetch-Site": "cross-site"},
            "cross-site",
        ),
    ],
)
def test_other_sites_are_refused(headers: dict[str, str], why: str) -> None:
    problem = cross_site_problem(scope(headers))
    assert problem is not None
    assert why in problem


def test_the_middleware_answers_403_before_the_app() -> None:
    app = SameOriginOnly(ok, what="management API", error_format=ErrorFormat.JSON)
    # A form another site posts (enctype=text/plain carrying a JSON body): refused.
    refused = call(app, "POST", {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
                                 "Content-Type": "text/plain"})  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("management API: cross-site request refused")
    assert call(app, "POST", {"Origin": "http://gw:8080"}).text == "ok"
    assert call(app, "POST", {}).text == "ok"


def test_the_console_opens_from_another_sites_link_but_is_not_framed_or_posted_to() -> None:
    console = SameOriginOnly(ok, what="web console", error_format=ErrorFormat.TEXT,
                             allow_navigation=True)  # fmt: skip
    api = SameOriginOnly(ok, what="management API", error_format=ErrorFormat.JSON)
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document"}  # fmt: skip
    assert call(console, "GET", link).text == "ok"
    assert call(api, "GET", link).status_code == 403  # the API is never opened that way
    framed = {**link, "Sec-Fetch-Dest": "iframe"}
    assert call(console, "GET", framed).status_code == 403
    posted = {**link, "Origin": "http://evil.example"}
    assert call(console, "POST", posted).status_code == 403
    fetched = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert call(console, "GET", fetched).status_code == 403


def test_browsers_get_no_basic_auth_challenge() -> None:
    app = RequireBasicAuth(ok, CREDENTIALS, what="management API")
    cli = call(app, "GET", {})
    browser = call(app, "GET", {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"})
    navigation = call(app, "GET", {"Sec-Fetch-Mode": "navigate"})
    wrong = call(app, "GET", {"Sec-Fetch-Mode": "cors"}, auth=("admin", "nope"))
    assert cli.status_code == browser.status_code == navigation.status_code == 401
    assert cli.headers["www-authenticate"].startswith('Basic realm="faas"')
    for answer in (browser, navigation, wrong):
        assert "www-authenticate" not in answer.headers
    assert "wrong user name or password" in wrong.json()["error"]
    assert call(app, "GET", {"Sec-Fetch-Mode": "cors"}, auth=AUTH).text == "ok"


def test_function_calls_may_still_challenge_browsers() -> None:
    app = RequireBasicAuth(ok, CREDENTIALS, what="function invocation", challenge_browsers=True)
    answer = call(app, "GET", {"Sec-Fetch-Mode": "navigate"})
    assert answer.headers["www-authenticate"].startswith('Basic realm="faas"')
