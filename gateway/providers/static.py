"""`StaticProvider`: a fixed, editable set of functions (`GATEWAY_STATIC_FUNCTIONS`, tests)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gateway.errors import NotSupported
from gateway.providers.base import (
    Function,
    FunctionRegistry,
    LogLine,
    ProviderStatus,
    ReplicaTask,
)

if TYPE_CHECKING:
    from gateway.api_types.bodies import FunctionDeployment
    from gateway.namespaces import NamespaceRecord


class StaticProvider:
    """A provider over a fixed, editable registry: for tests and local development.

    Its functions can be listed through the management API, not changed (501).
    """

    orchestration = "static"

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self.registry = FunctionRegistry(functions)

    async def start(self) -> None:
        """Nothing to load: the registry is already filled."""

    async def close(self) -> None:
        """Nothing to release."""

    async def refresh(self) -> None:
        """The registry is the whole truth: nothing to catch up with."""

    def lookup(self, name: str) -> Function | None:
        """See `FunctionProvider.lookup`."""
        return self.registry.lookup(name)

    def functions(self) -> Sequence[Function]:
        """See `FunctionProvider.functions`."""
        return self.registry.all()

    def by_domain(self, host: str) -> Function | None:
        """See `FunctionView.by_domain`."""
        return self.registry.by_domain(host)

    def status(self) -> ProviderStatus:
        """Always ready."""
        return ProviderStatus(ready=True, detail="static")

    async def available_replicas(self) -> Mapping[str, int]:
        """Every listed replica counts as running."""
        return {function.name: function.replicas for function in self.registry.all()}

    def running_jobs(self) -> Mapping[str, int]:
        """None: a static provider runs no jobs."""
        return {}

    async def replica_tasks(self, name: str) -> Sequence[ReplicaTask] | None:
        """None: static functions run wherever their owner started them."""
        return None

    async def gateway_addresses(self) -> Sequence[str] | None:
        """None: a static gateway knows no other."""
        return None

    async def deploy(self, deployment: FunctionDeployment) -> None:
        """Not supported: see `GATEWAY_STATIC_FUNCTIONS`."""
        raise _static_read_only("deploy")

    async def update(self, deployment: FunctionDeployment) -> None:
        """Not supported: see `GATEWAY_STATIC_FUNCTIONS`."""
        raise _static_read_only("update")

    async def remove(self, name: str) -> None:
        """Not supported: see `GATEWAY_STATIC_FUNCTIONS`."""
        raise _static_read_only("remove")

    async def scale(self, name: str, replicas: int) -> None:
        """Not supported: see `GATEWAY_STATIC_FUNCTIONS`."""
        raise _static_read_only("scale")

    async def set_traffic(
        self, name: str, weights: Mapping[str, int], canary: str | None = None
    ) -> None:
        """Not supported: see `GATEWAY_STATIC_FUNCTIONS`."""
        raise _static_read_only("setting traffic")

    async def update_state(self, name: str) -> str:
        """Static functions are never updated: ""."""
        return ""

    async def logs(self, name: str, since: str | None, tail: int | None) -> Sequence[LogLine]:
        """Not supported: static functions run wherever their owner started them."""
        raise NotSupported(
            "logs are not available from the static provider (its functions run outside "
            "any orchestrator the gateway knows)"
        )

    async def secret_names(self, namespace: str | None = None) -> Sequence[str]:
        """Not supported: there is nowhere to keep secrets that a function could mount."""
        raise _no_secrets()

    async def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> None:
        """Not supported (see `secret_names`)."""
        raise _no_secrets()

    async def update_secret(
        self, name: str, value: bytes, namespace: str | None = None
    ) -> Sequence[str]:
        """Not supported (see `secret_names`)."""
        raise _no_secrets()

    async def remove_secret(self, name: str, namespace: str | None = None) -> None:
        """Not supported (see `secret_names`)."""
        raise _no_secrets()

    def namespace_names(self) -> Collection[str]:
        """None: the static provider has the default namespace only."""
        return ()

    async def namespace(self, name: str) -> NamespaceRecord:
        """Not supported (see `namespace_names`)."""
        raise _static_read_only("namespaces")

    async def create_namespace(self, record: NamespaceRecord) -> None:
        """Not supported (see `namespace_names`)."""
        raise _static_read_only("namespaces")

    async def update_namespace(self, record: NamespaceRecord) -> None:
        """Not supported (see `namespace_names`)."""
        raise _static_read_only("namespaces")

    async def remove_namespace(self, name: str) -> None:
        """Not supported (see `namespace_names`)."""
        raise _static_read_only("namespaces")


def _no_secrets() -> NotSupported:
    return NotSupported(
        "secrets are not supported by the static provider (its functions run outside any "
        "orchestrator that could mount them)"
    )


def _static_read_only(operation: str) -> NotSupported:
    return NotSupported(
        f"{operation} is not supported by the static provider "
        "(its functions come from GATEWAY_STATIC_FUNCTIONS)"
    )
