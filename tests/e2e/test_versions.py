"""Versions on the real swarm, under a c=16 request loop the whole time (issue 20's "Done
when"): dark launch, a 10/90 split, a canary to 100 and v1 scaled to zero with zero failed
calls; a bad v2 rolled back by the canary on its own; per-version environment variables.

Each version runs the catservice image with `printenv COLOUR` as its process, so the
answer says which version (and which environment) served it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import GATEWAY_URL, Platform, credentials, wait_for
from tests.e2e.loops import Callers
from tests.e2e.test_scaling import IMAGE

pytestmark = pytest.mark.swarm

CONNECTIONS = 16
NAME = "versioned"
# v2 answers 500 (its process exits 1) for every body holding a 7.
BAD = "sh -c 'read -r body; case \"$body\" in *7*) exit 1;; esac; printenv COLOUR'"


class Loop(Callers):
    """`CONNECTIONS` callers posting numbered bodies to a function until stopped; every
    answer's text counted, every failure kept (with the version that answered it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, CONNECTIONS)
        self.answers = Counter[str]()
        self.failures: list[str] = []

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.answers)

    def call_until_stopped(self, caller: int) -> None:
        count = 0
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            while not self.stop.is_set():
                count += 1
                try:
                    reply = http.post(f"/function/{self.name}", content=f"{caller}-{count}\n")
                    failure = None if reply.status_code == 200 else f"{reply.status_code}"
                    answer = reply.text.strip()
                except httpx.HTTPError as error:
                    failure, answer = f"{type(error).__name__}: {error}", ""
                with self._lock:
                    self.answers[answer if failure is None else f"failed {failure}"] += 1
                    if failure is not None:
                        self.failures.append(failure)


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY_URL + "/system", auth=credentials(), timeout=60) as http:
        http.request("DELETE", "/functions", json={"functionName": NAME})
        yield http
        http.request("DELETE", "/functions", json={"functionName": NAME})


def deploy(api: httpx.Client, version: str, colour: str, process: str = "printenv COLOUR",
           **extra: object) -> None:  # fmt: skip
    body = {"service": NAME, "image": IMAGE, "envProcess": process, "version": version,
            "envVars": {"COLOUR": colour}, **extra}  # fmt: skip
    reply = api.post("/functions", json=body)
    assert reply.status_code == 202, reply.text


def ready(api: httpx.Client, version: str) -> bool:
    reply = api.get(f"/function/{NAME}@{version}")
    return reply.status_code == 200 and reply.json()["availableReplicas"] > 0


def calls_by_version(count: int, **headers: str) -> Counter[str]:
    seen = Counter[str]()
    with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
        for i in range(count):
            reply = http.post(f"/function/{NAME}", content=f"{i}\n", headers=headers)
            seen[reply.text.strip() if reply.status_code == 200 else f"{reply.status_code}"] += 1
    return seen


def test_dark_launch_split_canary_and_scale_to_zero(api: httpx.Client) -> None:
    deploy(api, "v1", "red", labels={"com.faas.scale.zero": "true",
                                     "com.faas.scale.zero_after": "10s"})  # fmt: skip
    wait_for(lambda: ready(api, "v1"), "v1 ready")
    with Loop(NAME) as loop:
        deploy(api, "v2", "blue", weight=0)
        wait_for(lambda: ready(api, "v2"), "v2 ready")
        time.sleep(2)
        # Dark: v2 only by name; per-version environment seen by each process.
        with httpx.Client(base_url=GATEWAY_URL, timeout=60) as http:
            assert http.post(f"/function/{NAME}@v2", content="x\n").text.strip() == "blue"
            assert http.post(f"/function/{NAME}@v1", content="x\n").text.strip() == "red"
        assert loop.snapshot()["blue"] == 0

        assert api.put(f"/functions/{NAME}/traffic", json={"v1": 90, "v2": 10}).status_code == 202
        time.sleep(2)  # every worker follows the engine's event
        split = calls_by_version(1000)
        assert split["red"] + split["blue"] == 1000
        assert 70 <= split["blue"] <= 130, split  # 10% within a tolerance

        canary = {"to": "v2", "step": 30, "every": "3s", "maxErrorRate": 0.01}
        reply = api.post(f"/functions/{NAME}/canary", json=canary)
        assert reply.status_code == 202, reply.text
        wait_for(lambda: api.get(f"/function/{NAME}").json().get("canary", {}).get("status")
                 == "promoted", "the canary promoted v2", timeout=120)  # fmt: skip
        time.sleep(2)
        before = loop.snapshot()["red"]
        time.sleep(3)
        assert loop.snapshot()["red"] == before  # v1 gets nothing now
        wait_for(lambda: api.get(f"/function/{NAME}@v1").json()["replicas"] == 0,
                 "v1 scaled to zero", timeout=120)  # fmt: skip
    assert loop.failures == [], Counter(loop.failures)
    assert sum(loop.answers.values()) > 100


def test_a_bad_v2_is_rolled_back_by_the_canary(api: httpx.Client) -> None:
    deploy(api, "v1", "red")
    wait_for(lambda: ready(api, "v1"), "v1 ready")
    with Loop(NAME) as loop:
        deploy(api, "v2", "blue", process=BAD)
        wait_for(lambda: ready(api, "v2"), "v2 ready")
        canary = {"to": "v2", "step": 10, "every": "3s", "maxErrorRate": 0.01}
        reply = api.post(f"/functions/{NAME}/canary", json=canary)
        assert reply.status_code == 202, reply.text
        wait_for(lambda: api.get(f"/function/{NAME}").json().get("canary", {}).get("status")
                 == "rolled_back", "the canary rolled back", timeout=120)  # fmt: skip
        status = api.get(f"/function/{NAME}").json()
        assert {v["version"]: v["weight"] for v in status["versions"]} == {"v1": 100, "v2": 0}
        assert "error rate" in status["canary"]["steps"][-1]["reason"]
        time.sleep(2)
        failed_then = len(loop.failures)
        time.sleep(5)
        assert len(loop.failures) == failed_then  # none after the rollback
    # The only failures: v2's own 500s before the rollback.
    assert set(loop.failures) <= {"500"}, Counter(loop.failures)
    assert loop.answers["red"] > 0
