"""The provider interface: what the gateway knows about a function, the in-memory index it
looks names up in, and the protocols a provider implements.

Providers (Docker Swarm, or a fake in tests) keep a `FunctionRegistry` up to date; the
request path only ever reads it, so routing never waits on an orchestrator API.
`FunctionView` is the read side (no I/O) that the proxy and scaling use, `ReplicaScaler`
the one write scaling needs, `SecretStore` the secrets, and `FunctionProvider` all of it
plus the management writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from gateway.labels import is_job
from gateway.providers import domains
from gateway.versions.traffic import group_versions, version_named

if TYPE_CHECKING:
    from gateway.api_types.bodies import FunctionDeployment
    from gateway.namespaces import NamespaceRecord
    from gateway.versions.traffic import Traffic

DEFAULT_FUNCTION_PORT = 8080


def engine_time(timestamp: str) -> tuple[int, int] | None:
    """An RFC 3339 timestamp (up to nanoseconds) as (Unix seconds, nanoseconds), exactly.

    None if it does not parse. Exact because two lines in the same microsecond must
    still compare equal or not as the engine wrote them.
    """
    text, dot, rest = timestamp.partition(".")
    fraction = ""
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, text = rest[:digits], text + rest[digits:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp()), int(fraction[:9].ljust(9, "0")) if fraction else 0


@dataclass(frozen=True)
class LogLine:
    """One line a replica wrote to stdout or stderr."""

    name: str
    instance: str
    timestamp: str  # RFC 3339 with nanoseconds, as the engine gives it
    text: str

    def ndjson(self, namespace: str | None = None, name: str | None = None) -> bytes:
        """The line as one line of JSON (`name`, or the one given, `namespace` if given,
        `instance`, `timestamp`, `text`: OpenFaaS's log message)."""
        record = {"name": name or self.name}
        if namespace is not None:
            record["namespace"] = namespace
        record |= {"instance": self.instance, "timestamp": self.timestamp, "text": self.text}
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"


@dataclass(frozen=True)
class Resources:
    """CPU (cores) and memory (bytes) of a limit or reservation; None where not set."""

    cpus: float | None = None
    memory: int | None = None


@dataclass(frozen=True)
class FunctionSettings:
    """What a function's definition holds beyond its image, process and labels.

    Not needed to route a call: kept so that `GET /system/function/<name>` shows the
    whole definition, which a client sends back whole (a PUT replaces it).
    """

    env_vars: Mapping[str, str] = field(default_factory=dict)  # without fprocess
    constraints: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    limits: Resources = field(default_factory=Resources)
    requests: Resources = field(default_factory=Resources)
    read_only_root_filesystem: bool = False


@dataclass(frozen=True)
class Function:
    """One deployed function as the gateway routes to it.

    `upstream_host` is a DNS name (or address) that resolves to every running replica,
    e.g. `tasks.func_catservice` on Swarm; the proxy resolves it and spreads requests
    over the addresses it returns.
    """

    name: str
    image: str
    replicas: int
    upstream_host: str
    upstream_port: int = DEFAULT_FUNCTION_PORT
    stack: str | None = None  # the Docker stack it was deployed in (not an OpenFaaS namespace)
    namespace: str | None = None
    """Its faas namespace (`com.faas.namespace`), None for the default one. A function in
    a namespace is known by `<name>.<namespace>` (`qualified_name`); its service is
    `<namespace>_<name>` when the API made it."""
    labels: Mapping[str, str] = field(default_factory=dict)
    env_process: str | None = None
    # Set by the registry when the function has several versions (docs/versions.md):
    version: str | None = None  # this service's version
    version_of: str | None = None  # the function it is a version of
    traffic: Traffic | None = field(default=None, compare=False, repr=False)  # on its own service
    metric_name: str = field(init=False, compare=False, repr=False)
    """The name its calls are counted and scaled by: `<function>@<version>` for a version
    of a function with several, else `name`."""
    job: bool = field(init=False, compare=False, repr=False)
    """Each async call runs in a fresh container (`com.faas.mode=job`, docs/jobs.md)."""

    settings: FunctionSettings = field(default_factory=FunctionSettings)
    created_at: str | None = None
    """When its service was created (RFC 3339, as the orchestrator says it), if known."""

    def __post_init__(self) -> None:
        versioned = self.version is not None and self.version_of is not None
        base = self.version_of if versioned and self.version_of else self.name
        if self.namespace:  # known as OpenFaaS labels it: `<name>.<namespace>`
            base = f"{_without_prefix(base, self.namespace)}.{self.namespace}"
        object.__setattr__(self, "metric_name", f"{base}@{self.version}" if versioned else base)
        object.__setattr__(self, "job", is_job(self.labels))

    @property
    def display_name(self) -> str:
        """Its name within its namespace: the service's name without the `<namespace>_`
        prefix the API gives it."""
        return _without_prefix(self.name, self.namespace) if self.namespace else self.name

    @property
    def qualified_name(self) -> str | None:
        """`<name>.<namespace>` for a function in a namespace, None in the default one."""
        return f"{self.display_name}.{self.namespace}" if self.namespace else None

    @property
    def short_name(self) -> str | None:
        """The name without its stack prefix (`catservice` for `func_catservice`)."""
        prefix = f"{self.stack}_" if self.stack else None
        if prefix and self.name.startswith(prefix) and len(self.name) > len(prefix):
            return self.name[len(prefix) :]
        return None


def _without_prefix(service: str, namespace: str) -> str:
    prefix = f"{namespace}_"
    return service[len(prefix) :] if service.startswith(prefix) and service != prefix else service


class FunctionRegistry:
    """Thread-safe index of functions by full name, with unambiguous short-name lookup."""

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self._lock = threading.Lock()
        self._plain: dict[str, Function] = {}  # as the provider gave them
        self._by_name: dict[str, Function] = {}  # versions gathered (`group_versions`)
        self._by_short_name: dict[str, list[str]] = {}
        self._by_qualified: dict[str, str] = {}  # `<name>.<namespace>`: the service's name
        self._by_domain: dict[str, Function] = {}  # custom domains (`gateway.providers.domains`)
        self._clashes: set[str] = set()
        self.replace_all(functions)

    def replace_all(self, functions: Iterable[Function]) -> None:
        """Swap the whole view at once (a full resync)."""
        by_name = {function.name: function for function in functions}
        with self._lock:
            self._plain = by_name
            self._reindex()

    def upsert(self, function: Function) -> None:
        """Add a function or replace the one of the same name."""
        with self._lock:
            self._plain = {**self._plain, function.name: function}
            self._reindex()

    def remove(self, name: str) -> None:
        """Forget a function by full name; unknown names are ignored."""
        with self._lock:
            if name in self._plain:
                self._plain = {k: v for k, v in self._plain.items() if k != name}
                self._reindex()

    def lookup(self, name: str) -> Function | None:
        """Find by full name first, then by short name when exactly one function has it;
        `<name>@<version>` names one version of a function (whatever its weight)."""
        by_name, by_short_name = self._by_name, self._by_short_name
        function = by_name.get(name)
        if function is not None:
            return function
        qualified = self._by_qualified.get(name)
        if qualified is not None:
            return by_name.get(qualified)
        candidates = by_short_name.get(name, ())
        if len(candidates) == 1:
            return by_name.get(candidates[0])
        if "@" in name:
            return self._version(name)
        return None

    def by_domain(self, host: str) -> Function | None:
        """The function a custom domain (a lower-case host name) reaches, if any."""
        return self._by_domain.get(host)

    def _version(self, spelled: str) -> Function | None:
        name, _, version = spelled.partition("@")
        function = self.lookup(name) if name and "@" not in name else None
        return None if function is None else version_named(function, version)

    def all(self) -> Sequence[Function]:
        """Every known function, sorted by name."""
        by_name = self._by_name
        return [by_name[name] for name in sorted(by_name)]

    def _reindex(self) -> None:
        self._by_name = group_versions(self._plain.values())
        short: dict[str, list[str]] = {}
        qualified: dict[str, str] = {}
        for function in self._by_name.values():
            if function.short_name and not function.namespace:
                short.setdefault(function.short_name, []).append(function.name)
            if function.qualified_name:
                qualified[function.qualified_name] = function.name
        self._by_short_name = short
        self._by_qualified = qualified
        self._by_domain, clashes = domains.index_domains(self._by_name.values())
        domains.log_new_clashes(clashes, self._clashes)
        self._clashes = clashes


@dataclass(frozen=True)
class ProviderStatus:
    """Whether a provider has a usable view of the functions, and why not if it has none."""

    ready: bool
    detail: str = ""


@dataclass(frozen=True)
class ReplicaTask:
    """One replica as the orchestrator schedules it (on Swarm: a task of the service).

    Read while the gateway holds calls for a function with no ready replica, to reach a
    new replica before DNS lists it and to give up at once when it cannot start.
    """

    id: str
    state: str  # the orchestrator's word: new, pending, starting, running, failed, rejected...
    address: str | None = None  # on the functions network, once it has one
    error: str = ""  # why it failed or was rejected (e.g. "No such image: ...")

    @property
    def running(self) -> bool:
        """Whether its container is started or starting (not yet whether it answers).

        Swarm keeps a task with a HEALTHCHECK in `starting` until its first healthy check,
        which is what the gateway's own probe is there to beat, so `starting` counts.
        """
        return self.state in ("starting", "running")

    @property
    def failed(self) -> bool:
        """Whether it ended without ever being able to serve: failed or rejected."""
        return self.state in ("failed", "rejected")


class FunctionView(Protocol):
    """A provider's in-memory view of the functions: called on the request path, no I/O."""

    def lookup(self, name: str) -> Function | None:
        """The function called `name` (full or unambiguous short name), if any."""

    def functions(self) -> Sequence[Function]:
        """Every function currently known."""

    def by_domain(self, host: str) -> Function | None:
        """The function a custom domain (`com.faas.domain`, lower-case) reaches, if any."""

    def status(self) -> ProviderStatus:
        """Readiness for `/healthz`: e.g. not ready while the engine cannot be reached."""


class ReplicaScaler(Protocol):
    """Sets a function's desired replicas (what scaling needs of a provider)."""

    async def scale(self, name: str, replicas: int) -> None:
        """Set `name`'s desired replicas; `FunctionNotFound` if none, `GatewayError`s."""


class SecretStore(Protocol):
    """The secrets the management API owns (`/system/secrets`): the only ones a deployment
    may mount. Values go in, never come out. Raise `GatewayError`s (`SecretNotFound`,
    `Conflict`, `NotSupported`, `OrchestratorError`, `ProviderUnavailable`).

    Each namespace has its own: `namespace` None means the default one (callers pass None
    for it, never its name); a function mounts only its own namespace's secrets, and the
    same name may live in several namespaces, independently."""

    async def secret_names(self, namespace: str | None = None) -> Sequence[str]:
        """The names of the secrets the API created in `namespace`, sorted."""

    async def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> None:
        """Create a secret; `Conflict` if one of that name exists there (the API's or not)."""

    async def update_secret(
        self, name: str, value: bytes, namespace: str | None = None
    ) -> Sequence[str]:
        """Replace a secret's value, rolling every function that mounts it onto the new
        one; the names of the functions rolled. `SecretNotFound` if the API has none."""

    async def remove_secret(self, name: str, namespace: str | None = None) -> None:
        """Remove a secret; `SecretNotFound` if none, `Conflict` while a function mounts it."""


class NamespaceStore(Protocol):
    """The namespaces besides the default (`gateway.namespaces`, docs/management.md
    "Namespaces"). Raise `GatewayError`s (`NamespaceNotFound`, `Conflict`, `NotSupported`,
    `OrchestratorError`, `ProviderUnavailable`)."""

    def namespace_names(self) -> Collection[str]:
        """The namespaces besides the default, from the view (no I/O, as fresh as the
        last `refresh`)."""

    async def namespace(self, name: str) -> NamespaceRecord:
        """One namespace's record, read now; `NamespaceNotFound` if none."""

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """Create a namespace; `Conflict` if it exists."""

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """Replace a namespace's labels and annotations; `NamespaceNotFound` if none."""

    async def remove_namespace(self, name: str) -> None:
        """Remove an empty namespace; `NamespaceNotFound` if none, `Conflict` naming the
        functions and secrets it still holds."""


class FunctionProvider(FunctionView, ReplicaScaler, SecretStore, NamespaceStore, Protocol):
    """Where functions come from: an orchestrator kept in memory by a background task.

    The view (`FunctionView`) is read on the request path and must not do I/O.
    The async methods serve the management API (`/system`) and scaling: they may talk to
    the orchestrator (off the event loop) and raise `GatewayError`s (`FunctionNotFound`,
    `Conflict`, `NotSupported`, `OrchestratorError`, `ProviderUnavailable`).
    """

    orchestration: str

    async def start(self) -> None:
        """Load the initial view and begin watching for changes."""

    async def close(self) -> None:
        """Stop watching and release resources."""

    async def refresh(self) -> None:
        """Bring the view up to the orchestrator's state now, so that a read after a
        write (by this process or any other) shows it; the management API's reads call
        it. Never raises: when the orchestrator cannot be read, the view stays as it is."""

    async def available_replicas(self) -> Mapping[str, int]:
        """Running replicas by full function name (functions missing here have none)."""

    def running_jobs(self) -> Mapping[str, int]:
        """Job services (docs/jobs.md) that exist now, by the full name of the function
        they run a call of (functions missing here have none): from the view, no I/O, as
        fresh as the last `refresh`."""

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        """The function's replicas as the orchestrator has them now (read from it, not
        cached); None when this provider cannot tell (nothing to wait for)."""

    async def gateway_addresses(self) -> Sequence[str] | None:
        """The addresses of the running gateway containers that share this one's work
        (on Swarm: its own service's tasks, on the functions network), itself included,
        read now; None when this provider cannot tell (the gateway serves alone)."""

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """Create a new function, or a new version of one (`deployment.version`: its own
        service beside the others, at `deployment.weight`); `Conflict` if the name (or
        version) is taken."""

    async def update(self, deployment: FunctionDeployment) -> None:
        """Replace a function's (or one version's) definition with a rolling update;
        `FunctionNotFound` if none."""

    async def remove(self, name: str) -> None:
        """Remove a function (full or unambiguous short name) or one version of it
        (`<name>@<version>`, at weight 0); `FunctionNotFound` if none, `Conflict` for a
        function whose other versions remain."""

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """Set the weights of a function's versions (validated by the caller: versions it
        has, summing to 100) and its canary's state (None: no canary) in one write of
        its own service, keeping the weights they replace for a rollback
        (docs/versions.md); `FunctionNotFound` if none."""

    async def update_state(self, name: str) -> str:
        """The state of a function's latest rolling update, read now: `updating`,
        `completed`, `paused`, `rollback_started`, ... or "" if it was never updated."""

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """Lines the replicas of a function wrote (as the engine interleaves them);
        `FunctionNotFound` if none.

        `since`: Docker's `seconds.nanoseconds`, lines at or after it; `tail`: at most
        that many lines per replica (None: all).
        """


class LeaderLease(Protocol):
    """A lease held by at most one process among every gateway of a cluster: the
    autoscaler decides only while its process holds it (docs/scaling.md)."""

    async def hold(self) -> bool:
        """Take the lease if it is free or expired, or renew it if this process holds it;
        True if this process holds it now. Never raises: an engine that cannot be asked
        means "not held"."""

    async def release(self) -> None:
        """Give the lease up (on shutdown), so another gateway takes over at once."""


class NoLease:
    """The lease of a provider with no cluster to share (the static provider): always held,
    so the one flock holder of the gateway decides alone."""

    async def hold(self) -> bool:
        """Always True."""
        return True

    async def release(self) -> None:
        """Nothing to give up."""
