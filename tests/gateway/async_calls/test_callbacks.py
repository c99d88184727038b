"""The callback allow-list: prefixes compared part by part, nothing that steps outside;
and the credentials a callback to the gateway's own functions carries."""

from __future__ import annotations

import pytest

from gateway.async_calls.callbacks import callback_allowed, callback_authorization
from gateway.config import AsyncConfig, BasicAuthCredentials
from gateway.management.auth import parse_basic_authorization
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS
from tests.gateway.async_calls.harness import (
    ConsumerThread,
    ScriptedUpstream,
    async_config,
    function,
)
from tests.gateway.async_calls.test_async_calls import AUTH, wait_for_state
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import free_port

PREFIXES = ("http://gateway:8080/function/",)


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway:8080/function/receiver",
        "http://gateway:8080/function/receiver/path?x=1",
        "http://GATEWAY:8080/function/receiver",
    ],
)
def test_allowed(url: str) -> None:
    assert callback_allowed(url, PREFIXES)


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway:8080/system/functions",
        "http://gateway:8080/function/../system/functions",
        "http://gateway:8080/function/%2e%2e/system/functions",
        "http://gateway:8081/function/receiver",
        "http://gateway/function/receiver",
        "https://gateway:8080/function/receiver",
        "http://gateway:8080@10.0.0.1/function/receiver",
        "http://user@gateway:8080/function/receiver",
        "http://gateway.evil:8080/function/receiver",
        "http://gateway:8080/functionx",
        "http://169.254.169.254/latest/meta-data",
        "ftp://gateway:8080/function/x",
        "http://gateway:8080/function/x\r\nX-Injected: 1",
        "not a url",
    ],
)
def test_refused(url: str) -> None:
    assert not callback_allowed(url, PREFIXES)


def test_a_prefix_without_a_trailing_slash_matches_whole_segments() -> None:
    prefixes = ("http://127.0.0.1:9000/callback",)
    assert callback_allowed("http://127.0.0.1:9000/callback", prefixes)
    assert callback_allowed("http://127.0.0.1:9000/callback/1", prefixes)
    assert not callback_allowed("http://127.0.0.1:9000/callbacks", prefixes)


def test_only_callbacks_to_the_gateways_functions_carry_the_invoke_credentials() -> None:
    config = AsyncConfig(gateway_url="http://gateway:8080")
    credentials = BasicAuthCredentials("admin", "secret")
    sent = callback_authorization("http://gateway:8080/function/receiver", config, credentials)
    assert parse_basic_authorization(sent) == ("admin", "secret")
    for elsewhere in (
        "http://gateway:8080/system/functions",
        "http://gateway:8080/function/../system/functions",
        "http://receiver:8080/function/receiver",
    ):
        assert callback_authorization(elsewhere, config, credentials) is None
    assert callback_authorization("http://gateway:8080/function/x", config, None) is None


def test_a_callback_through_the_gateway_under_invoke_auth_is_let_in(
    nats_server: BackgroundProcess, upstream: ScriptedUpstream
) -> None:
    # Review 1, finding 11: the default callback target (the gateway's own functions)
    # answered 401 when invoking needs credentials.
    provider = StaticProvider(
        [function("echo", upstream.port), function("receiver", upstream.port)]
    )
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    config = async_config(nats_server.port, gateway_url=gateway_url)
    with (
        GatewayThread(
            provider, port=port, async_calls=config, basic_auth=CREDENTIALS, invoke_auth=True
        ) as gateway,
        ConsumerThread(gateway.config, provider.functions()),
    ):
        with gateway.client() as client:
            response = client.post(
                "/async-function/echo/work",
                content=b"result",
                headers={"X-Callback-Url": f"{gateway_url}/function/receiver/done"},
                auth=AUTH,
            )
        assert response.status_code == 202, response.text
        record = wait_for_state(gateway, response.headers["X-Call-Id"], "succeeded")
    assert record["callbackStatus"] == 200
    (callback,) = upstream.requests_to("/done")
    assert callback.body == b"result"
    assert "authorization" not in callback.headers
