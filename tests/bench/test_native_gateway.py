"""bench.native_gateway: the gateway with its header path in C answers as ours does."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from bench.native.build import build
from bench.processes import Server, start_echo, start_gateway
from tests.support import require_compiler

UUID4 = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
HOT_PATH = (
    "gateway.proxy.handler.forwarded_request_headers",
    "gateway.proxy.forwarder.downstream_response_headers",
    "gateway.proxy.http1.client.request_head",
    "gateway.proxy.headers.new_call_id",
)


@pytest.fixture(scope="module")
def native_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Built here, not in the gateway's start: a compile must not eat its start timeout.
    require_compiler(build)
    tmp = tmp_path_factory.mktemp("native")
    with (
        start_echo(tmp) as echo,
        start_gateway(
            tmp, {"echo": f"127.0.0.1:{echo.port}"}, module="bench.native_gateway", workers=1
        ) as gateway,
    ):
        yield gateway


def call(gateway: Server, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    url = f"{gateway.base_url}/function/echo"
    sent = urllib.request.Request(url, data=b"hello", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            return answer.status, lower_case(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, lower_case(error.headers.items()), error.read()


def lower_case(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def test_a_call_is_echoed_with_a_call_id(native_gateway: Server) -> None:
    status, headers, body = call(native_gateway, {})
    assert (status, body) == (200, b"hello")
    assert UUID4.match(headers["x-call-id"])
    assert float(headers["x-duration-seconds"]) >= 0


def test_a_looped_call_is_refused(native_gateway: Server) -> None:
    status, _, body = call(native_gateway, {"X-Faas-Hops": "10"})
    assert status == 508
    assert b"loop detected" in body


def test_the_hot_path_runs_the_c_functions(native_gateway: Server) -> None:
    log = Path(native_gateway.log_path).read_text()
    swapped = re.search(r"the header path is in C .*: (.*)", log)
    assert swapped is not None, log
    assert set(HOT_PATH) <= set(swapped.group(1).split(", "))
