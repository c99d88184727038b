"""Job functions on the real stack (issue 37, docs/jobs.md): each async call in a fresh
container (a Swarm replicated job), results by id, a failing job retried then
dead-lettered, a job over its timeout killed, a queue worker killed mid-job leaving no
orphan while its call still completes, and a job function's record showing its running
and queued jobs.

UNRUN: written by a helper that may not run the swarm suite; the lead runs it. It needs
the stack from `make up` with the `sha256job` sample (scripts/images.sh builds it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Platform, credentials, docker, wait_for
from tests.e2e.test_async import _container, status, wait_for_state

IMAGE = "localhost/faas/sha256job:latest"
JOB_LABEL = "com.faas.job"
FAST_RETRIES = {"com.faas.retry.min_wait": "1s", "com.faas.retry.max_wait": "2s"}


def job_services(function: str = "") -> list[str]:
    """The job services on the swarm now (of `function`, if given)."""
    label = f"{JOB_LABEL}.function={function}" if function else f"{JOB_LABEL}=true"
    return docker("service", "ls", "-q", "--filter", f"label={label}").split()


@pytest.fixture
def deployed(client: httpx.Client) -> Iterator[list[str]]:
    """Job functions deployed through the API for one test, removed after it."""
    names: list[str] = []
    yield names
    for name in names:
        client.request(
            "DELETE", "/system/functions", json={"functionName": name}, auth=credentials()
        )


def deploy_job(
    client: httpx.Client, names: list[str], fprocess: str, labels: dict[str, str]
) -> str:
    name = f"job-{uuid.uuid4().hex[:8]}"
    body = {
        "service": name,
        "image": IMAGE,
        "envProcess": fprocess,
        "labels": {"com.faas.mode": "job", **FAST_RETRIES, **labels},
    }
    reply = client.post("/system/functions", json=body, auth=credentials())
    assert reply.status_code in (200, 202), reply.text
    names.append(name)
    wait_for(lambda: client.get(f"/system/function/{name}", auth=credentials()).is_success,
             f"the gateway to know {name}")  # fmt: skip
    return name


def test_a_sync_call_to_a_job_is_400_and_says_use_async(
    platform: Platform, client: httpx.Client
) -> None:
    reply = client.post("/function/sha256job", content=b"x")
    assert reply.status_code == 400
    assert "/async-function/sha256job" in reply.text


def test_20_calls_run_in_20_fresh_containers_and_every_result_is_kept(
    platform: Platform, client: httpx.Client
) -> None:
    ids = []
    for number in range(20):
        reply = client.post("/async-function/sha256job", content=f"input {number}".encode())
        assert reply.status_code == 202, reply.text
        ids.append(reply.headers["X-Call-Id"])
    records = [wait_for_state(client, call_id, "succeeded", "failed") for call_id in ids]
    assert [record["state"] for record in records] == ["succeeded"] * 20
    hosts = {str(record["body"]).strip().rsplit("host=", 1)[1] for record in records}
    assert len(hosts) == 20  # 20 distinct containers
    assert all(status(client, call_id)["status"] == 200 for call_id in ids)  # by id, again
    wait_for(lambda: job_services(f"{platform.stack_name}_sha256job") == [],
             "the finished job services to be removed", timeout=60)  # fmt: skip


def test_a_failing_job_is_retried_then_dead_lettered(
    platform: Platform, client: httpx.Client, deployed: list[str]
) -> None:
    name = deploy_job(client, deployed, "sh -c 'echo failing; exit 3'",
                      {"com.faas.retry.attempts": "2"})  # fmt: skip
    call_id = client.post(f"/async-function/{name}", content=b"x").headers["X-Call-Id"]
    record = wait_for_state(client, call_id, "failed")
    assert (record["status"], record["attempt"], record["deadLettered"]) == (500, 2, True)
    dead = client.get(f"/system/async/dlq/{call_id}", auth=credentials())
    assert dead.status_code == 200
    wait_for(lambda: job_services(name) == [], "its job services to be removed", timeout=60)


def test_a_job_over_its_timeout_is_killed(
    platform: Platform, client: httpx.Client, deployed: list[str]
) -> None:
    name = deploy_job(client, deployed, "sleep 600",
                      {"com.faas.job.timeout": "10s", "com.faas.retry.attempts": "1"})  # fmt: skip
    call_id = client.post(f"/async-function/{name}", content=b"x").headers["X-Call-Id"]
    wait_for(lambda: len(job_services(name)) == 1, "its job to start", timeout=60)
    record = wait_for_state(client, call_id, "failed")
    assert record["status"] == 504
    assert "timeout" in str(record["error"])
    wait_for(lambda: job_services(name) == [], "the timed-out job to be removed", timeout=30)
    containers = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={name}")
    assert containers.split() == []


def test_a_queue_worker_killed_mid_job_leaves_no_orphan_and_the_call_completes(
    platform: Platform, client: httpx.Client, deployed: list[str]
) -> None:
    name = deploy_job(client, deployed, "sh -c 'sleep 20; echo done'", {})
    call_id = client.post(f"/async-function/{name}", content=b"x").headers["X-Call-Id"]
    wait_for(lambda: len(job_services(name)) == 1, "its job to start", timeout=60)
    [orphan] = job_services(name)
    docker("kill", _container(f"{platform.stack_name}_queue-worker"))
    # The restarted worker removes the dead one's job (once the dead one's presence has
    # lapsed, 30 s), and JetStream delivers the call again after the ack wait.
    wait_for(lambda: orphan not in job_services(name), "the orphan job to be removed",
             timeout=120)  # fmt: skip
    record = wait_for_state(client, call_id, "succeeded", "failed")
    assert record["state"] == "succeeded", record
    assert str(record["body"]).strip() == "done"
    wait_for(lambda: job_services(name) == [], "no job service left", timeout=60)


def test_the_record_shows_the_jobs_running_and_queued_then_none(
    platform: Platform, client: httpx.Client, deployed: list[str]
) -> None:
    name = deploy_job(client, deployed, "sh -c 'sleep 6; echo done'",
                      {"com.faas.job.max_concurrent": "1"})  # fmt: skip
    seen: list[dict[str, int | None]] = []

    def jobs() -> dict[str, int | None]:
        record = client.get(f"/system/function/{name}", auth=credentials()).json()
        seen.append(record["jobs"])
        return dict(record["jobs"])

    assert jobs() == {"running": 0, "queued": 0}
    ids = [client.post(f"/async-function/{name}", content=b"%d" % n).headers["X-Call-Id"]
           for n in range(4)]  # fmt: skip
    # One job at a time (max_concurrent 1, and one queue worker in the stack): the rest wait.
    wait_for(lambda: (jobs()["running"] or 0) >= 1, "a job of it to be running", timeout=60)
    assert any((counts["queued"] or 0) >= 1 for counts in seen), seen
    listed = client.get("/system/functions", auth=credentials()).json()
    [record] = [function for function in listed if function["name"] == name]
    assert set(record["jobs"]) == {"running", "queued"}
    [ordinary] = [f for f in listed if f["name"] == platform.service_name("catservice")]
    assert "jobs" not in ordinary  # an ordinary function's record is OpenFaaS's as it was
    records = [wait_for_state(client, call_id, "succeeded", "failed") for call_id in ids]
    assert [record["state"] for record in records] == ["succeeded"] * 4
    wait_for(lambda: jobs() == {"running": 0, "queued": 0}, "its jobs to be gone", timeout=60)
