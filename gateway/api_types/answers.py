"""What each `/system` operation answers.

The handlers build these models, and `Answer.sent` is the JSON that goes out: the
fields the handler set, so an optional one is absent rather than null unless set so.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gateway.versions.canary import CanaryState

Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]


class Answer(BaseModel):
    """What a handler answers."""

    def sent(self) -> dict[str, Any]:
        """As JSON goes out: the fields set, by their JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class VersionStatus(Answer):
    """One version of a function with several (docs/versions.md)."""

    version: str
    name: str = Field(
        description="Its service: `<function>-<version>`, or the function's own name for "
        "its first version."
    )
    image: str
    envProcess: str
    weight: int = Field(ge=0, le=100, description="Percent of the calls it gets.")
    replicas: Count
    availableReplicas: Count
    invocationCount: Count
    health: Literal["ready", "starting", "scaled to zero"] = Field(
        description="ready: a replica runs; starting: none runs yet; scaled to zero."
    )


class FunctionResources(Answer):
    """A limit or reservation as the client wrote it (OpenFaaS's strings)."""

    cpu: str | None = Field(
        default=None,
        description="Cores as written ('100m', '0.5'); in cores ('0.1') for a function "
        "defined outside the API or changed since.",
    )
    memory: str | None = Field(
        default=None,
        description="Memory as written ('5Mi', '134217728'); in bytes ('5242880') for a "
        "function defined outside the API or changed since.",
    )


class FunctionUrls(Answer):
    """Where a function is called (README, "Routing"): not an OpenFaaS field."""

    path: str = Field(description="Its path on the gateway's own host names: /function/<name>.")
    hosts: list[str] = Field(
        description="Its host names under GATEWAY_FUNCTIONS_DOMAIN (<name>.<domain>, and "
        "<version>.<name>.<domain> for each version); empty without a functions domain."
    )
    domains: list[str] = Field(
        description="Its custom domains (com.faas.domain) that reach it: a domain another, "
        "older function also claims is not listed."
    )


class TriggerStatus(Answer):
    """One trigger of a function (docs/triggers.md): not an OpenFaaS field."""

    function: str
    name: str = Field(description="`cron` and `topic` for OpenFaaS's annotations; else ours.")
    kind: Literal["schedule", "topic"]
    schedule: str | None = Field(default=None, description="The cron expression.")
    timezone: str | None = Field(default=None, description="The schedule's time zone.")
    topics: list[str] = Field(default_factory=list, description="The topics it follows.")
    mode: Literal["async", "sync"]
    catchUp: bool = Field(default=False, description="Fires the last tick missed while down.")
    openfaas: bool = Field(description="Declared with OpenFaaS's annotations.")
    nextRuns: list[str] = Field(
        default_factory=list, description="A schedule's next ticks (RFC 3339, UTC)."
    )


class Triggers(Answer):
    """Every function's triggers, and the trigger labels left out as invalid."""

    triggers: list[TriggerStatus]
    problems: list[str] = Field(description="`<function>: <label>=<value>: <why>`, each.")


class Fired(Answer):
    """A trigger fired by hand: the async call it queued."""

    function: str
    trigger: str
    callId: str = Field(description="Its status: GET /system/async/{callId}.")


class FunctionJobs(Answer):
    """A job function's calls now (docs/jobs.md, "Seeing them"): not an OpenFaaS field."""

    running: Count = Field(
        description="Its job services that exist now (created by a queue worker and not "
        "removed yet), their container starting or running."
    )
    queued: Count | None = Field(
        description="Its async calls waiting for a job: the calls JetStream holds for it "
        "less those running; null when the queue cannot be read (async calls off, or the "
        "broker did not answer in time: docs/jobs.md)."
    )


class FunctionStatus(Answer):
    """A function's record (OpenFaaS's `FunctionStatus`): its state and its whole
    definition as the client sent it, in `FunctionDeployment`'s names and forms, so that a
    client can send it back with PUT."""

    name: str = Field(description="Its full name (a stack's function: `<stack>_<name>`).")
    image: str = Field(description="Its image, as deployed (without the engine's digest).")
    namespace: str = Field(
        description="The gateway's one namespace (GATEWAY_NAMESPACE, 'openfaas-fn' by "
        "default); a Docker stack's namespace stays part of the name."
    )
    envProcess: str = Field(description="The watchdog's fprocess; '' if none.")
    envVars: dict[str, str] = Field(description="Its environment, without fprocess.")
    labels: dict[str, str] = Field(
        description="Its service's labels, the platform's among them (`com.faas.managed`, "
        "a stack's `com.docker.stack.namespace`), and `faas_function: <name>` as OpenFaaS "
        "providers label every function. A PUT takes them back."
    )
    annotations: dict[str, str] = Field(description="Its annotations, as sent.")
    constraints: list[str] = Field(description="Placement constraints.")
    secrets: list[str] = Field(description="The secrets it mounts, by name.")
    limits: FunctionResources | None = Field(description="null if none.")
    requests: FunctionResources | None = Field(description="Reservations; null if none.")
    readOnlyRootFilesystem: bool = Field(description="Whether its root filesystem is read-only.")
    replicas: Count = Field(description="Desired: the count last written.")
    availableReplicas: Count = Field(description="Replicas running now.")
    invocationCount: Count = Field(
        description="Calls started through this gateway replica since it started."
    )
    createdAt: str | None = Field(
        description="When it was created (RFC 3339); null if the provider cannot tell."
    )
    updateState: str | None = Field(
        default=None,
        description="Only from GET /system/function/{name}: the latest rolling update's "
        "state (updating, completed, paused, rollback_started, rollback_completed, ...), '' "
        "if never updated.",
    )
    versions: list[VersionStatus] | None = Field(
        default=None, description="Only for a function with several versions: each of them."
    )
    canary: CanaryState | None = Field(
        default=None, description="Its canary, running or the last one's end."
    )
    urls: FunctionUrls | None = Field(
        default=None,
        description="Where it is called: its path, host names and custom domains (not an "
        "OpenFaaS field).",
    )
    triggers: list[TriggerStatus] | None = Field(
        default=None,
        description="Only from GET /system/function/{name}: its triggers, from its "
        "annotations and labels, with a schedule's next runs (not an OpenFaaS field).",
    )
    jobs: FunctionJobs | None = Field(
        default=None,
        description="Only for a job function (com.faas.mode=job): its jobs running and "
        "its calls queued (not an OpenFaaS field).",
    )


class Traffic(Answer):
    """A function's weights, as set."""

    message: str
    name: str
    weights: dict[str, int]


class RecentCalls(Answer):
    """A function's calls over the stats' window."""

    invocations: Count
    errors: int = Field(ge=0, description="Calls answered with a 5xx status.")
    rate: float = Field(ge=0, description="Calls per second.")
    p50: Seconds | None = Field(
        description="Median duration, estimated from the histogram's buckets; null without calls."
    )
    p99: Seconds | None = Field(description="99th percentile, as p50.")


class VersionStats(Answer):
    """One version's finished calls, as `FunctionStats` counts them."""

    version: str
    invocations: Count
    errors: Count
    recent: RecentCalls


class FunctionStats(Answer):
    """One function's finished calls: totals since the gateway started, and recent."""

    name: str
    invocations: Count
    errors: Count
    recent: RecentCalls
    versions: list[VersionStats] | None = Field(
        default=None,
        description="Each version's calls, for a function with several (docs/versions.md); "
        "the figures above are their sums.",
    )


class Stats(Answer):
    """What `GET /system/stats` answers."""

    time: float = Field(description="When, in Unix seconds.")
    window: Seconds = Field(
        description="The seconds `recent` covers: the window asked for, or less while the "
        "gateway (or this worker's record) is younger than that."
    )
    functions: list[FunctionStats]


class Accepted(Answer):
    """A change the orchestrator has taken on (it completes in the background)."""

    message: str
    name: str
    replicas: int | None = None
    warnings: list[str] | None = Field(
        default=None,
        description="What the request asked that has no effect here (also in the "
        "`Warning` header); absent when everything was honoured.",
    )


class SecretListed(Answer):
    """A secret as `GET /system/secrets` lists it: its name only, never its value."""

    name: str


class SecretChanged(Answer):
    """A secret created, replaced or removed."""

    message: str
    name: str
    functions: list[str] | None = Field(
        default=None,
        description="Only from PUT: the functions rolled onto the new value (start-first "
        "rolling updates).",
    )


class NamespaceDescription(Answer):
    """A namespace (faas-provider's `FunctionNamespace`)."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]


class Version(Answer):
    sha: str = Field(
        description="The commit the gateway's image was built from (`-dirty`: with local "
        "changes; `unknown`: not built by `make images`)."
    )
    release: str


class ProviderInfo(Answer):
    provider: str
    orchestration: str
    version: Version


class Info(Answer):
    """What `GET /system/info` answers."""

    provider: ProviderInfo
    version: Version
    arch: str


class Health(Answer):
    """What `GET /system/healthz` answers: `/healthz` with the provider's detail."""

    status: Literal["ok", "unavailable"]
    detail: str


class Error(Answer):
    """Every error the management API answers: one line naming the field or function."""

    error: str


class AlertOutcome(Answer):
    function: str | None = None
    status: str | None = None
    replicas: int | None = None
    error: str | None = None
    code: int | None = None


class AlertOutcomes(Answer):
    alerts: list[AlertOutcome]


# Bounds of a load report's numbers: a peer's answer outside them is refused whole.
MAX_REPORTED_COUNT = 2**53
MAX_REPORTED_REPLICAS = 10_000


class FunctionLoad(Answer):
    """One function's calls through one gateway container, over all its workers."""

    started: int = Field(ge=0, le=MAX_REPORTED_COUNT, description="Calls started since it began.")
    inflight: int = Field(ge=0, le=MAX_REPORTED_COUNT, description="Calls in flight now.")


class AlertFloor(Answer):
    """The last Alertmanager webhook this gateway container received for a function."""

    replicas: int = Field(
        ge=0, le=MAX_REPORTED_REPLICAS, description="The floor it set; 0: the alert resolved."
    )
    at: float = Field(ge=0, allow_inf_nan=False, description="When, in Unix seconds.")


class LoadReport(Answer):
    """What one gateway container saw (`GET /system/load`): the elected autoscaler adds
    every other container's to its own (docs/scaling.md, "One autoscaler")."""

    gateway: str = Field(
        min_length=1, max_length=256, description="Unique per start of the container."
    )
    functions: dict[str, FunctionLoad] = Field(description="By the function's metric name.")
    alerts: dict[str, AlertFloor] = Field(description="By the function's name.")


class DeadLetter(Answer):
    """A dead-lettered async call; one shown by its id also has its request."""

    callId: str
    function: str
    method: str
    path: str
    error: str | None = Field(description="Why its last attempt failed.")
    attempts: Count
    status: int | None = Field(description="Its last attempt's status, if any.")
    queuedAt: float = Field(description="When it was accepted, in Unix seconds.")
    callbackUrl: str | None
    bodyBytes: Count
    headers: list[list[str]] | None = Field(
        default=None, description="Only for one call: its headers."
    )
    bodyBase64: str | None = Field(
        default=None, description="Only for one call: its body, in base64."
    )


class DeadLetters(Answer):
    """A page of the dead-letter queue, oldest first."""

    total: Count
    calls: list[DeadLetter]
    next: int | None = Field(description="The `after` of the next page; null on the last.")


class Redriven(Answer):
    """Dead-lettered calls queued again (their attempts start over)."""

    redriven: list[str]
    more: bool | None = Field(default=None, description="Only when redriving all: some are left.")


class Deleted(Answer):
    """A dead-lettered call dropped."""

    deleted: list[str]


class Purged(Answer):
    """The dead-letter queue emptied."""

    purged: Count
