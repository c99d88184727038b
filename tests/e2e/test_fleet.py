"""A hundred functions deployed at once beside a loaded function (issue 35).

`POST /system/functions` 100 times at once (one replica each, with the image's health
check, as a user's deploys are) while callers post to `catservice` back to back: every
deploy is accepted, the gateway lists and routes all 100, and not one call to the loaded
function fails. On this 2-core machine, 100 containers starting at once starve
everything for a while: the platform must be slow then, never wrong (docs/scaling.md,
"Many functions").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import Platform, credentials, docker, wait_for
from tests.e2e.loops import RequestLoop, echoed

IMAGE = "localhost/faas/catservice:latest"
COUNT = 100
PREFIX = "e2e-burst-"
CALLERS = 4
READY_TIMEOUT = 600.0
"""For all 100 to answer: starting 100 containers on 2 cores takes minutes."""
API_REMOVAL_SECONDS = 300.0
"""For the API's removals, after which `docker service rm` takes the rest."""
REMOVED_TIMEOUT = 600.0
"""For all 100 containers to be gone: stopping them on a slow machine takes minutes too."""


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    """A management client with the admin credentials."""
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=120) as http:
        yield http


@pytest.fixture
def names(api: httpx.Client) -> Iterator[list[str]]:
    """The burst's function names; every one removed afterwards, whatever happened.

    Through the API first; then, since one failed or slow removal must not leave the
    rest of the run beside a hundred containers (a CI run once failed every later test
    that way), `docker service rm` of whatever is left."""
    wanted = [f"{PREFIX}{i:03d}" for i in range(COUNT)]
    yield wanted
    deadline = time.monotonic() + API_REMOVAL_SECONDS
    for name in wanted:
        if time.monotonic() > deadline:
            break
        with contextlib.suppress(httpx.HTTPError):
            api.request("DELETE", "/system/functions", json={"functionName": name},
                        timeout=30)  # fmt: skip
    left = docker("service", "ls", "-q", "--filter", f"name={PREFIX}", check=False).split()
    if left:
        docker("service", "rm", *left, check=False)
    wait_for(
        lambda: not docker("ps", "-q", "--filter", f"name={PREFIX}", check=False).strip(),
        "the burst's containers to be gone",
        timeout=REMOVED_TIMEOUT,
    )


def listed(api: httpx.Client) -> set[str]:
    """The functions the gateway lists."""
    return {str(f["name"]) for f in api.get("/system/functions").json()}


def test_a_hundred_deploys_at_once_fail_no_call_to_a_loaded_function(
    platform: Platform, api: httpx.Client, names: list[str]
) -> None:
    def deploy(name: str) -> int:
        with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=120) as h:
            return h.post("/system/functions", json={"service": name, "image": IMAGE}).status_code

    started = time.monotonic()
    with RequestLoop(platform.service_name("catservice"), CALLERS, echoed) as loop:
        with ThreadPoolExecutor(COUNT) as pool:
            statuses = list(pool.map(deploy, names))
        accepted = time.monotonic() - started
        wait_for(lambda: set(names) <= listed(api), "the gateway to list all 100", 120)
        answered: list[str] = []
        with httpx.Client(base_url=platform.gateway_url, timeout=60) as http:
            for name in names:
                deadline = started + READY_TIMEOUT
                while time.monotonic() < deadline:
                    if http.post(f"/function/{name}", content=b"hi").status_code == 200:
                        answered.append(name)
                        break
                    time.sleep(0.5)
        ready = time.monotonic() - started
    print(
        f"\n[fleet] {COUNT} deploys accepted after {accepted:.1f} s, all answer after "
        f"{ready:.1f} s; {loop.calls} calls to catservice meanwhile, "
        f"{len(loop.failures)} failed, slowest {loop.slowest:.1f} s"
    )
    assert statuses == [202] * COUNT
    assert len(answered) == COUNT, sorted(set(names) - set(answered))[:10]
    assert loop.calls > 0
    assert loop.reasons == []
