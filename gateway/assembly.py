"""The parts a call goes through, built once here for both processes that make calls.

The gateway's workers (`gateway.app.create_app`) and the queue worker
(`python -m gateway.async_calls`) each build the same call path: the provider
`GATEWAY_PROVIDER` names, the replica resolver, the `Scaler`, the cold-start path, the
`Forwarder` (which alone holds the cold start, as its waker) and the `Calls` that find a
call's function. `CallPath.start` and `close` run them in the order both need. The
gateway alone also builds the autoscaler (`build_autoscaling`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.calls import Calls
from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.namespaces import Namespaces
from gateway.providers.base import FunctionProvider, LeaderLease
from gateway.providers.jobs import JobEngine
from gateway.providers.static import StaticProvider
from gateway.proxy.forwarder import Forwarder
from gateway.proxy.notifier import InvocationNotifier, Notifiers
from gateway.proxy.replicas import ReplicaResolver
from gateway.proxy.upstream import UpstreamClient
from gateway.scaling.alert_floors import MAX_ALERT_FLOORS, AlertFloors
from gateway.scaling.autoscaler import Autoscaler
from gateway.scaling.cold_start import ColdStart
from gateway.scaling.cpu import CpuMeter
from gateway.scaling.load import LoadCounter, LoadView
from gateway.scaling.parked_file import SharedParking
from gateway.scaling.peers import ClusterLoad, HttpReportFetch, container_identity
from gateway.scaling.probes import TASK_PROBE_TIMEOUT, health_probe, tcp_probe
from gateway.scaling.scaler import Scaler, ScalingMetrics
from gateway.shared import FileLock, SharedDir, SharedTable
from gateway.versions.controller import CanaryController


def configure_logging(config: GatewayConfig) -> None:
    """The gateway's own loggers (gateway.*) at the configured level; uvicorn configures
    its own."""
    logging.basicConfig(
        level=config.log_level.upper() if config.log_level != "trace" else logging.DEBUG,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def build_provider(config: GatewayConfig) -> FunctionProvider:
    """The provider `GATEWAY_PROVIDER` asks for (Swarm is imported only when chosen)."""
    if config.provider == "static":
        return StaticProvider(config.static_functions)
    from gateway.providers.swarm import SwarmProvider

    return SwarmProvider(
        network=config.swarm_network,
        resync_interval=config.swarm_resync_interval,
        default_namespace=config.namespace,
    )


def build_job_engine(provider: FunctionProvider) -> JobEngine | None:
    """What runs job functions' calls (docs/jobs.md): Swarm's jobs, None elsewhere."""
    from gateway.providers.swarm import SwarmProvider

    if not isinstance(provider, SwarmProvider):
        return None
    from gateway.providers.swarm.jobs import SwarmJobs

    return SwarmJobs(provider.client, provider.engine)


@dataclass(frozen=True)
class CallPath:
    """The parts a call goes through after its door: found, woken or held, forwarded."""

    calls: Calls
    resolver: ReplicaResolver
    scaler: Scaler
    cold_start: ColdStart
    forwarder: Forwarder

    async def start(self) -> None:
        """Open the upstream pool, then follow the other workers' parks (if shared)."""
        await self.forwarder.start()
        self.cold_start.start()

    async def close(self) -> None:
        """Cancel the waits under way, then close the upstream pool."""
        try:
            await self.cold_start.close()
        finally:
            await self.forwarder.close()


def build_call_path(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: ScalingMetrics,
    *,
    resolver: ReplicaResolver | None = None,
    shared: SharedDir | None = None,
    client: UpstreamClient | None = None,
) -> CallPath:
    """The call path over `provider`, scaling reported to `metrics`.

    `resolver` replaces the DNS-backed replica resolver (tests use a fixed table).
    `shared`: one of several gateway workers (`gateway.workers`): unreachable addresses,
    parks, wake locks and replica failures go through the files there. `client`: the
    upstream client to share with another forwarder (the queue worker's callbacks).
    """
    if resolver is None:
        resolver = ReplicaResolver(
            config.dns_ttl,
            shared=SharedTable(shared.unreachable) if shared is not None else None,
        )
    scaler = Scaler(provider, metrics)
    cold_start = ColdStart(
        scaler,
        provider,
        resolver,
        timeout=config.scale_from_zero_timeout,
        probe=functools.partial(tcp_probe, within=config.connect_timeout),
        shared=SharedParking(shared.parked, shared.wake_lock) if shared is not None else None,
        tasks=provider.replica_tasks,
        task_probe=functools.partial(
            health_probe, within=min(config.connect_timeout, TASK_PROBE_TIMEOUT)
        ),
        # Read once per hold, not per call: always from the file as it is.
        failures=SharedTable(shared.failures, recheck=0.0) if shared is not None else None,
    )
    return CallPath(
        calls=Calls(provider.lookup, Namespaces(config.namespace, provider.namespace_names)),
        resolver=resolver,
        scaler=scaler,
        cold_start=cold_start,
        forwarder=Forwarder(config, resolver, client, waker=cold_start),
    )


@dataclass(frozen=True)
class Autoscaling:
    """The autoscaler (None: `GATEWAY_AUTOSCALE` is off), the load counter it reads in an
    app without a shared folder, and who the proxy tells of each call."""

    autoscaler: Autoscaler | None
    load: LoadCounter | None
    notifier: InvocationNotifier


def build_autoscaling(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    call_path: CallPath,
    *,
    shared: SharedDir | None = None,
    lease: LeaderLease | None = None,
    queued: Callable[[], Awaitable[dict[str, int]]] | None = None,
) -> Autoscaling:
    """The gateway's autoscaler over its call path's `Scaler` and cold start.

    The load it reads: every worker's calls from the shared metrics, or (no shared
    folder) a `LoadCounter` told of each call beside the metrics. `shared`: the election
    among workers; `lease`: the one among gateways; `queued`: the async backlog."""
    if not config.autoscale:
        return Autoscaling(None, None, metrics)
    load: LoadCounter | None = None
    notifier: InvocationNotifier = metrics
    load_view: LoadView
    if metrics.shared is not None:
        load_view = metrics.shared  # every worker's calls
    else:
        load = load_view = LoadCounter()
        notifier = Notifiers([metrics, load])
    autoscaler = Autoscaler(
        provider,
        call_path.scaler,
        load_view,
        call_path.cold_start,
        interval=config.autoscale_interval,
        leadership=FileLock(shared.leader_lock) if shared is not None else None,
        lease=lease,
        report_leader=metrics.autoscaler_leader,
        report_pass=metrics.autoscaler_pass,
        canary=CanaryController(provider, metrics.outcomes, report=metrics.canary_step),
        cpu=CpuMeter(provider.replica_tasks),
        queued=queued,
        floors=AlertFloors(
            SharedTable(shared.alerts, limit=MAX_ALERT_FLOORS, recheck=0.0)
            if shared is not None
            else None
        ),
        peers=_cluster_load(config, provider, metrics, shared),
    )
    return Autoscaling(autoscaler, load, notifier)


def _cluster_load(
    config: GatewayConfig,
    provider: FunctionProvider,
    metrics: GatewayMetrics,
    shared: SharedDir | None,
) -> ClusterLoad | None:
    """The other gateway containers' load, asked with the management API's credentials
    (none configured: no container answers for its load, so none is asked)."""
    if config.basic_auth is None:
        return None
    credentials = (config.basic_auth.user, config.basic_auth.password)
    fetch = HttpReportFetch(config.port, credentials)
    return ClusterLoad(
        container_identity(shared.path if shared is not None else None),
        provider.gateway_addresses,
        fetch,
        metrics=metrics,
        close=fetch.close,
    )


def run_until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `run(stop)` on a new event loop; SIGTERM or SIGINT sets `stop` (the queue
    worker's and the triggers service's processes)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(stop)

    asyncio.run(main())
