"""`GatewayPeers`: where the other gateway containers of this one's Swarm service are.

The elected autoscaler asks each of them for its load (`gateway.scaling.peers`). The
service is found as the lease finds it (`own_service_id`: this container's hostname is
its id, and Swarm labels it with its service's); its running tasks' addresses on the
functions network come as every replica's do (`replica_task`). One task list per call
(one autoscaler pass), on a worker thread.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

import docker.errors

from gateway.providers.swarm.engine import engine_call
from gateway.providers.swarm.lease import own_service_id
from gateway.providers.swarm.services import replica_task

if TYPE_CHECKING:
    from gateway.providers.swarm.discovery import SwarmProvider


class GatewayPeers:
    """The running tasks of the gateway's own service, by address (this one's included)."""

    def __init__(self, discovery: SwarmProvider, hostname: str | None = None) -> None:
        self._discovery = discovery
        self._hostname = hostname or socket.gethostname()
        self._service_id: str | None = None
        self._alone = False  # not a Swarm task: no peers, ever

    async def addresses(self) -> Sequence[str] | None:
        """See `FunctionProvider.gateway_addresses`."""
        if self._alone:
            return None
        return await engine_call(self._discovery.engine, self._list)

    def _list(self) -> list[str] | None:
        client = self._discovery.client()
        if self._service_id is None:
            self._service_id = own_service_id(client, self._hostname)
            if self._service_id is None:
                self._alone = True  # no service label on its container
                return None
        try:
            # types-docker leaves APIClient methods unannotated.
            tasks = client.api.tasks(  # type: ignore[no-untyped-call]
                filters={"service": self._service_id, "desired-state": "running"}
            )
        except docker.errors.NotFound:
            self._service_id = None  # removed or re-created: found again next time
            raise
        network, network_ids = self._discovery.network, self._discovery.network_ids()
        found = (replica_task(task, network, network_ids) for task in tasks)
        return [str(task.address) for task in found if task.running and task.address]
