"""`/system/functions` and `/system/function/{name}`: list, describe, deploy, update and
remove functions. Every change goes through the provider's write methods."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fwatchdog.values import is_dns_label
from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import (
    FunctionResources,
    FunctionStatus,
    FunctionUrls,
    VersionStatus,
)
from gateway.api_types.bodies import DeleteFunctionRequest, FunctionDeployment
from gateway.deployments import parse_body
from gateway.deployments.fields import parse_cores, parse_memory
from gateway.deployments.service_labels import (
    LIMITS_PREFIX,
    OPENFAAS_FUNCTION_LABEL,
    REQUESTS_PREFIX,
)
from gateway.errors import BadRequest, Conflict, Forbidden, FunctionNotFound
from gateway.labels import ANNOTATION_PREFIX, DOMAIN_LABEL, parse_domains
from gateway.management.ignored import ignored_parts
from gateway.management.jobs import function_jobs, pending_calls
from gateway.management.namespace_limits import check_deployment_limits
from gateway.management.operations import System, accepted, answer, read_json
from gateway.providers.base import Function, Resources
from gateway.providers.domains import claimed_by_others, domains_of, owner
from gateway.triggers.api import trigger_statuses
from gateway.versions.canary import canary_state
from gateway.versions.model import CANARY_LABEL

log = logging.getLogger("gateway.system")


async def list_functions(request: Request, system: System) -> Response:
    """`GET /system/functions`: every function's record in the namespace asked for (the
    default one without `?namespace=`), a function with versions once."""
    await system.provider.refresh()  # read-your-writes: whichever process or gateway wrote
    asked = request.query_params.get("namespace")
    system.namespaces.check(asked)
    namespace = system.namespaces.other(asked)
    available = await system.provider.available_replicas()
    counts = system.metrics.invocation_counts()
    functions = system.provider.functions()
    jobs = system.provider.running_jobs()
    pending = await pending_calls(system.broker) if any(f.job for f in functions) else None
    statuses = []
    for function in functions:
        if function.namespace != namespace:
            continue
        if function.version_of is None or function.traffic is not None:  # versions: in theirs
            status = function_status(function, available, counts, system.namespaces.default)
            status.urls = function_urls(function, system)
            if function.job:
                status.jobs = function_jobs(function, jobs, pending)
            statuses.append(status)
    return answer(statuses)


async def describe_function(request: Request, system: System) -> Response:
    """`GET /system/function/{name}`: its record, and the state of its latest update."""
    await system.provider.refresh()  # read-your-writes: whichever process or gateway wrote
    name = system.function_name(request, request.path_params["name"])
    function = system.provider.lookup(name)
    if function is None:
        raise FunctionNotFound(name)
    available = await system.provider.available_replicas()
    status = function_status(
        function, available, system.metrics.invocation_counts(), system.namespaces.default
    )
    # Read now, not from the gateway's view: `faas deploy --wait` polls it after an update.
    status.updateState = await system.provider.update_state(function.name)
    status.urls = function_urls(function, system)
    status.triggers = trigger_statuses(function, time.time())
    if function.job:
        pending = await pending_calls(system.broker)
        status.jobs = function_jobs(function, system.provider.running_jobs(), pending)
    return answer(status)


async def deploy(request: Request, system: System) -> Response:
    """`POST /system/functions`."""
    return await _write(request, system, system.provider.deploy, "deployed", "deploying", False)


async def update(request: Request, system: System) -> Response:
    """`PUT /system/functions`: a rolling update."""
    return await _write(request, system, system.provider.update, "updating", "updating", True)


async def _write(
    request: Request,
    system: System,
    write: Callable[[FunctionDeployment], Awaitable[None]],
    logged: str,
    answered: str,
    updating: bool,
) -> Response:
    deployment = parse_body(FunctionDeployment, await read_json(request))
    await system.catch_up(request, deployment.namespace)
    deployment = _allowed(request, system, deployment)
    await _no_domain_taken(deployment, system)
    if deployment.version is not None or updating:
        # A version and an update are read against the function as it is: the write
        # just before (a first version, from any process or gateway) must be in the view.
        await system.provider.refresh()
    await check_deployment_limits(system, deployment, updating)
    await write(deployment)
    what = _spelled(deployment)
    log.info("%s function %s (%s)", logged, what, deployment.image)
    ignored = ignored_parts(deployment)
    return accepted(f"{answered} function {what!r}", deployment.service, warnings=ignored)


async def remove(request: Request, system: System) -> Response:
    """`DELETE /system/functions`."""
    removal = parse_body(DeleteFunctionRequest, await read_json(request))
    await system.provider.refresh()  # its versions, however recently deployed, go with it
    name = system.function_name(
        request, removal.function_name, "functionName", namespace=removal.namespace
    )
    await system.provider.remove(name)
    log.info("removed function %s", name)
    return accepted(f"removing function {name!r}", name)


def function_status(
    function: Function,
    available: Mapping[str, int],
    invocations: Mapping[str, int],
    namespace: str,
) -> FunctionStatus:
    """A function's record, as listing and describing it show it: OpenFaaS's
    `FunctionStatus`, its definition in `FunctionDeployment`'s names and forms as the
    client sent it (so that a PUT takes it back as it is), in the gateway's one
    `namespace` (a Docker stack's is in its labels and name)."""
    labels = {k: v for k, v in function.labels.items() if not k.startswith(_NOT_LABELS)}
    labels[OPENFAAS_FUNCTION_LABEL] = function.display_name  # as OpenFaaS labels every one
    annotations = {
        k[len(ANNOTATION_PREFIX) :]: v
        for k, v in function.labels.items()
        if k.startswith(ANNOTATION_PREFIX)
    }
    settings = function.settings
    status = FunctionStatus(
        name=function.display_name,
        image=function.image,
        namespace=function.namespace or namespace,
        envProcess=function.env_process or "",
        envVars=dict(settings.env_vars),
        labels=labels,
        annotations=annotations,
        constraints=list(settings.constraints),
        secrets=list(settings.secrets),
        limits=_resources(settings.limits, function.labels, LIMITS_PREFIX),
        requests=_resources(settings.requests, function.labels, REQUESTS_PREFIX),
        readOnlyRootFilesystem=settings.read_only_root_filesystem,
        replicas=function.replicas,
        availableReplicas=available.get(function.name, 0),
        invocationCount=invocations.get(function.metric_name, 0),
        createdAt=function.created_at,
    )
    traffic = function.traffic
    if traffic is not None:
        status.invocationCount = sum(
            invocations.get(version.metric_name, 0) for version in traffic.versions.values()
        )
        status.versions = [
            version_status(version, traffic.weights.get(name, 0), available, invocations)
            for name, version in sorted(traffic.versions.items())
        ]
    canary = canary_state(function.labels.get(CANARY_LABEL))
    if canary is not None:
        status.canary = canary
    return status


def function_urls(function: Function, system: System) -> FunctionUrls:
    """Where `function` is called: by path (its short name when that reaches it), by host
    name under the functions domain (a name that is a DNS label), by the custom domains
    it wins."""
    short = function.short_name
    reached = system.provider.lookup(short) if short else None
    name = short if short and reached is not None and reached.name == function.name else None
    name = function.qualified_name or name or function.name
    hosts: list[str] = []
    domain = system.config.functions_domain
    if domain and is_dns_label(name):
        hosts.append(f"{name}.{domain}")
        versions = sorted(function.traffic.versions) if function.traffic is not None else []
        hosts.extend(f"{version}.{name}.{domain}" for version in versions)
    domains = []
    for custom in domains_of(function):
        winner = system.provider.by_domain(custom)
        if winner is not None and owner(winner) == owner(function):
            domains.append(custom)
    return FunctionUrls(path=f"/function/{name}", hosts=hosts, domains=domains)


# Labels shown in their own fields (annotations, limits, requests), not in `labels`.
_NOT_LABELS = (ANNOTATION_PREFIX, LIMITS_PREFIX, REQUESTS_PREFIX)


def _resources(
    given: Resources, labels: Mapping[str, str], prefix: str
) -> FunctionResources | None:
    """A limit or reservation as the client wrote it (kept in the labels under `prefix`),
    or in numbers (cores, bytes) for a service defined elsewhere or changed since."""
    shown = FunctionResources()
    if given.cpus is not None:
        written = labels.get(prefix + "cpu")
        same = _nano(_parsed(parse_cores, written)) == _nano(given.cpus)
        shown.cpu = written if same else f"{given.cpus:g}"
    if given.memory is not None:
        written = labels.get(prefix + "memory")
        same = _parsed(parse_memory, written) == given.memory
        shown.memory = written if same else str(given.memory)
    return shown if shown.model_fields_set else None


def _parsed(parse: Callable[[str, object], float | None], written: str | None) -> float | None:
    try:
        return None if written is None else parse("", written)
    except BadRequest:  # not ours: a label written by hand
        return None


def _nano(cpus: float | None) -> int | None:
    """In the engine's unit, where `0.1` and `100m` are the same."""
    return None if cpus is None else round(cpus * 1_000_000_000)


def version_status(
    version: Function, weight: int, available: Mapping[str, int], invocations: Mapping[str, int]
) -> VersionStatus:
    """One version as `/system/functions` shows it."""
    ready = available.get(version.name, 0)
    health: Literal["ready", "starting", "scaled to zero"] = (
        "ready" if ready > 0 else "starting" if version.replicas > 0 else "scaled to zero"
    )
    return VersionStatus(
        version=version.version or "",
        name=version.name,
        image=version.image,
        envProcess=version.env_process or "",
        weight=weight,
        replicas=version.replicas,
        availableReplicas=ready,
        invocationCount=invocations.get(version.metric_name, 0),
        health=health,
    )


def image_allowed(image: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `image` starts with one of `prefixes` at a name boundary.

    `registry.example.com` admits `registry.example.com/x` but not
    `registry.example.com.evil.io/x`; a prefix ending in `/`, `:` or `@` is taken as is.
    """
    return any(
        image.startswith(prefix if prefix.endswith(("/", ":", "@")) else f"{prefix}/")
        for prefix in prefixes
    )


def _allowed(
    request: Request, system: System, deployment: FunctionDeployment
) -> FunctionDeployment:
    what = f"function {deployment.service!r}"
    system.namespaces.check(deployment.namespace, what)
    system.namespaces.check(request.query_params.get("namespace"), what)
    namespace = system.namespace_asked(request, deployment.namespace)
    deployment = deployment.model_copy(update={"namespace": system.namespaces.other(namespace)})
    allowlist = system.config.image_allowlist
    if allowlist and not image_allowed(deployment.image, allowlist):
        raise Forbidden(
            f"image {deployment.image!r} is not allowed: images must start with "
            + " or ".join(repr(prefix) for prefix in allowlist)
            + " (GATEWAY_IMAGE_ALLOWLIST)"
        )
    return deployment


async def _no_domain_taken(deployment: FunctionDeployment, system: System) -> None:
    """`BadRequest` for a custom domain that is, or is under, the functions domain;
    `Conflict` naming the function that already has a custom domain the deployment
    claims (its own versions may share its domains)."""
    domains = parse_domains(deployment.labels.get(DOMAIN_LABEL, "")) or ()
    if not domains:
        return
    functions_domain = system.config.functions_domain
    for domain in domains:
        if functions_domain and (domain + ".").endswith("." + functions_domain + "."):
            raise BadRequest(
                f"{DOMAIN_LABEL}: {domain!r} is under the functions domain {functions_domain!r} "
                "(GATEWAY_FUNCTIONS_DOMAIN), whose names are the functions' own"
            )
        if domain == functions_domain:
            raise BadRequest(
                f"{DOMAIN_LABEL}: {domain!r} is the functions domain (GATEWAY_FUNCTIONS_DOMAIN), "
                "one of the gateway's own host names"
            )
    await system.provider.refresh()  # another process or gateway may have claimed it
    existing = system.provider.lookup(deployment.service)
    function = owner(existing) if existing is not None else deployment.service
    taken = claimed_by_others(domains, function, system.provider.functions())
    if taken:
        domain, other = next(iter(taken.items()))
        raise Conflict(
            f"custom domain {domain!r} ({DOMAIN_LABEL}) already reaches function {other!r}: "
            "remove it there first"
        )


def _spelled(deployment: FunctionDeployment) -> str:
    version = deployment.version
    name = deployment.service
    if deployment.namespace:
        name = f"{name}.{deployment.namespace}"
    return f"{name}@{version}" if version else name
