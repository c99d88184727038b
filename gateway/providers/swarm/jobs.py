"""`SwarmJobs`: a job function's call as a Swarm replicated job (docs/jobs.md).

The job service is made from the function's own service spec (image, env, secrets,
limits, placement, networks), with `Mode: {"ReplicatedJob": {MaxConcurrent: 1,
TotalCompletions: 1}}`, no restart (a failed container is a failed attempt, which the
queue worker's retry policy handles), no healthcheck (the image's checks the HTTP
watchdog's lock file, which a job never writes), and the job's variables. Its labels name
the call, the function and the queue worker, so orphans can be found.
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import docker
import docker.errors
from docker.types import ServiceMode

from gateway.errors import FunctionNotFound
from gateway.providers.jobs import JobService, JobSpec, JobTask
from gateway.providers.swarm.engine import engine_call
from gateway.providers.swarm.services import mapping

JOB_LABEL = "com.faas.job"
"""`true` on every job service (and `com.faas.function=false`: never a function)."""
JOB_CALL_LABEL = "com.faas.job.call"
JOB_FUNCTION_LABEL = "com.faas.job.function"
JOB_WORKER_LABEL = "com.faas.job.worker"
_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9-]")
_MAX_NAME = 63


def job_function(attrs: Mapping[str, Any]) -> str | None:
    """The function a job service (`com.faas.job=true`) runs a call of, from its service
    attrs; None for any other service (discovery counts jobs with it, docs/jobs.md)."""
    labels = mapping(mapping(attrs.get("Spec")).get("Labels"))
    function = labels.get(JOB_FUNCTION_LABEL)
    if labels.get(JOB_LABEL) != "true" or not isinstance(function, str) or not function:
        return None
    return function


class RunningJobs:
    """The job services discovery has seen, by service id: written by its sync thread
    (every full sync, every service event), read by `by_function` from any thread."""

    def __init__(self) -> None:
        self._functions: dict[str, str] = {}  # job service id: its function's name

    def replace_all(self, services: Iterable[Mapping[str, Any]]) -> None:
        """Every job service among `services` (a full sync's list), and no other."""
        self._functions = {
            str(attrs.get("ID")): function
            for attrs in services
            if (function := job_function(attrs)) is not None
        }

    def seen(self, service_id: str, attrs: Mapping[str, Any]) -> None:
        """A service re-read after its event: kept if it is a job service."""
        function = job_function(attrs)
        if function is not None:
            self._functions[service_id] = function

    def gone(self, service_id: str) -> None:
        """A service removed; unknown ids are ignored."""
        self._functions.pop(service_id, None)

    def by_function(self) -> Counter[str]:
        """How many job services each function has now."""
        return Counter(self._functions.copy().values())  # a copy: atomic under the GIL


def job_service_name(function: str, call_id: str, run: str) -> str:
    """`job-<call id>-<run>-<function>`, cut to a valid service name (63 characters).

    `run` differs for each run of a call: a call delivered again (its worker died) starts
    its new job while the old one may still exist until the orphan sweep removes it.
    """
    name = _NAME_CHARACTERS.sub("-", f"job-{call_id[:18]}-{run}-{function}")
    return name[:_MAX_NAME].rstrip("-")


class SwarmJobs:
    """Job services on the engine `client()` talks to (`engine` names it in errors)."""

    def __init__(self, client: Callable[[], docker.DockerClient], engine: str) -> None:
        self._client = client
        self._engine = engine

    async def create(self, spec: JobSpec) -> str:
        """Start the job service for `spec`; its id."""
        return await engine_call(self._engine, self._create, spec)

    async def task(self, service_id: str) -> JobTask | None:
        """The job's task, None before it is scheduled."""
        return await engine_call(self._engine, self._task, service_id)

    async def remove(self, service_id: str) -> None:
        """Remove the job service (its container is killed); gone already is fine."""
        await engine_call(self._engine, self._remove, service_id)

    async def jobs(self) -> Sequence[JobService]:
        """Every job service a queue worker started."""
        return await engine_call(self._engine, self._list)

    def _create(self, spec: JobSpec) -> str:
        client = self._client()
        found = client.api.services(filters={"name": spec.function})  # type: ignore[no-untyped-call]
        named = [a for a in found if mapping(a.get("Spec")).get("Name") == spec.function]
        if not named:
            raise FunctionNotFound(spec.function)
        attrs = named[0]
        template = copy.deepcopy(dict(mapping(mapping(attrs.get("Spec")).get("TaskTemplate"))))
        container = dict(mapping(template.get("ContainerSpec")))
        env = [
            entry
            for entry in container.get("Env") or []
            if str(entry).partition("=")[0] not in spec.env
        ]
        container["Env"] = env + [f"{name}={value}" for name, value in spec.env.items()]
        container["Healthcheck"] = {"Test": ["NONE"]}
        template["ContainerSpec"] = container
        template["RestartPolicy"] = {"Condition": "none", "MaxAttempts": 0}
        # Not the function's DNS aliases (a stack's short name): a job answers no calls.
        template["Networks"] = [
            {"Target": mapping(attachment).get("Target")}
            for attachment in template.get("Networks") or []
        ]
        template.pop("ForceUpdate", None)
        labels = {
            "com.faas.function": "false",
            JOB_LABEL: "true",
            JOB_CALL_LABEL: spec.call_id,
            JOB_FUNCTION_LABEL: spec.function,
            JOB_WORKER_LABEL: spec.worker_id,
        }
        created = client.api.create_service(  # type: ignore[no-untyped-call]
            template,
            name=job_service_name(spec.function, spec.call_id, secrets.token_hex(3)),
            labels=labels,
            mode=ServiceMode("replicated-job", concurrency=1, replicas=1),
        )
        return str(created["ID"])

    def _task(self, service_id: str) -> JobTask | None:
        client = self._client()
        tasks = client.api.tasks(filters={"service": service_id})  # type: ignore[no-untyped-call]
        if not tasks:
            return None
        status = mapping(tasks[-1].get("Status"))
        exit_code = mapping(status.get("ContainerStatus")).get("ExitCode")
        return JobTask(
            state=str(status.get("State") or ""),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            error=str(status.get("Err") or ""),
        )

    def _remove(self, service_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._client().api.remove_service(service_id)  # type: ignore[no-untyped-call]

    def _list(self) -> list[JobService]:
        client = self._client()
        found = client.api.services(filters={"label": f"{JOB_LABEL}=true"})  # type: ignore[no-untyped-call]
        jobs = []
        for attrs in found:
            labels: dict[str, Any] = dict(mapping(mapping(attrs.get("Spec")).get("Labels")))
            if labels.get(JOB_LABEL) != "true":
                continue
            jobs.append(
                JobService(
                    service_id=str(attrs.get("ID")),
                    call_id=str(labels.get(JOB_CALL_LABEL, "")),
                    worker_id=str(labels.get(JOB_WORKER_LABEL, "")),
                )
            )
        return jobs
