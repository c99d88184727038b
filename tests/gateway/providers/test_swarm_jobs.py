"""`SwarmJobs` against the fake engine: the job service it creates from a function's own,
its task, its removal, and the job services it lists (docs/jobs.md)."""

from __future__ import annotations

import asyncio
import re

from gateway.providers.jobs import JobSpec
from gateway.providers.swarm.jobs import SwarmJobs, job_function, job_service_name
from tests.gateway.providers.swarm_fixtures import (
    FakeDockerClient,
    service_attrs,
    task_attrs,
)

SPEC = JobSpec("heavy", "c0ffee-1234", "worker-1", {"FAAS_JOB_TOKEN": "t", "Http_X_Call_Id": "c"})


def engine_with_function() -> FakeDockerClient:
    client = FakeDockerClient()
    attrs = service_attrs(
        "heavy", labels={"com.faas.mode": "job"}, env=("fprocess=sha256sum", "A=1"),
        mode={"Replicated": {"Replicas": 0}}, stack="faas",
    )  # fmt: skip
    attrs["Spec"]["TaskTemplate"]["Resources"] = {"Limits": {"MemoryBytes": 64 << 20}}
    attrs["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==worker"]}
    client.create_service(attrs)
    return client


def test_the_job_service_is_the_function_run_once_with_the_job_variables() -> None:
    client = engine_with_function()
    jobs = SwarmJobs(lambda: client, "fake")
    service_id = asyncio.run(jobs.create(SPEC))
    created = client.api.inspect_service(service_id)  # type: ignore[no-untyped-call]
    spec = created["Spec"]
    assert re.fullmatch(r"job-c0ffee-1234-[0-9a-f]{6}-heavy", spec["Name"])
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert spec["Labels"] == {
        "com.faas.function": "false",
        "com.faas.job": "true",
        "com.faas.job.call": "c0ffee-1234",
        "com.faas.job.function": "heavy",
        "com.faas.job.worker": "worker-1",
    }
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"]
    assert container["Env"] == ["fprocess=sha256sum", "A=1", "FAAS_JOB_TOKEN=t", "Http_X_Call_Id=c"]
    assert container["Image"] == "local/python:3.11-bookworm"
    assert container["Healthcheck"] == {"Test": ["NONE"]}
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Resources"] == {"Limits": {"MemoryBytes": 64 << 20}}
    assert template["Placement"] == {"Constraints": ["node.role==worker"]}
    assert template["Networks"] == [{"Target": "6wid6ij1mq0efzderucn66dmp"}]  # no aliases
    [listed] = asyncio.run(jobs.jobs())
    assert (listed.service_id, listed.call_id, listed.worker_id) == (
        service_id, "c0ffee-1234", "worker-1",
    )  # fmt: skip


def test_the_task_says_how_the_container_ended_and_removal_is_idempotent() -> None:
    client = engine_with_function()
    jobs = SwarmJobs(lambda: client, "fake")
    service_id = asyncio.run(jobs.create(SPEC))
    assert asyncio.run(jobs.task(service_id)) is None
    failed = task_attrs(service_id, "failed", error="task: non-zero exit (3)")
    failed["Status"]["ContainerStatus"] = {"ExitCode": 3}
    client.set_tasks([failed])
    task = asyncio.run(jobs.task(service_id))
    assert task is not None
    assert (task.state, task.exit_code, task.ended) == ("failed", 3, True)
    asyncio.run(jobs.remove(service_id))
    asyncio.run(jobs.remove(service_id))  # gone already: fine
    assert asyncio.run(jobs.jobs()) == []


def test_names_are_valid_service_names() -> None:
    name = job_service_name("func_a.b" * 10, "0123456789abcdef0123456789abcdef", "a1b2c3")
    assert len(name) <= 63
    assert name.startswith("job-0123456789abcdef01-a1b2c3-func-a-b")


def test_two_runs_of_one_call_get_two_services() -> None:
    client = engine_with_function()
    jobs = SwarmJobs(lambda: client, "fake")
    first, second = asyncio.run(jobs.create(SPEC)), asyncio.run(jobs.create(SPEC))
    names = {client.api.inspect_service(i)["Spec"]["Name"] for i in (first, second)}  # type: ignore[no-untyped-call]
    assert len(names) == 2


def test_a_job_service_names_its_function_and_no_other_service_does() -> None:
    client = engine_with_function()
    service_id = asyncio.run(SwarmJobs(lambda: client, "fake").create(SPEC))
    job = client.api.inspect_service(service_id)  # type: ignore[no-untyped-call]
    assert job_function(job) == "heavy"
    assert job_function(client.service("heavy")) is None
    not_ours = service_attrs("x", labels={"com.faas.job": "false", "com.faas.job.function": "a"})
    assert job_function(not_ours) is None
    assert job_function(service_attrs("y", labels={"com.faas.job": "true"})) is None
    assert job_function({"Spec": None}) is None
