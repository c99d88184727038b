"""Sending a service's spec back to the engine as it was read, with one part changed.

The SDK's `Service.update` and `scale` fill in defaults (StopGracePeriod, RestartPolicy)
that Swarm takes for a new task template, and then replace every running task. Sent
back as read, the spec changes only what was meant: labels or the replica count leave
the tasks running. It goes at the version read, so the engine refuses it ("update out of
sequence") when another writer changed the service since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker


def update_as_read(
    client: docker.DockerClient,
    service_id: str | None,
    version: int | None,
    spec: Mapping[str, Any],
    *,
    task_template: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    mode: Mapping[str, Any] | None = None,
) -> None:
    """Update the service to `spec` (its `Spec` as read at `version`), with the parts
    given here in place of the spec's own."""
    client.api.update_service(
        service_id,
        version,
        task_template=spec.get("TaskTemplate") if task_template is None else task_template,
        name=spec.get("Name"),
        labels=spec.get("Labels") if labels is None else dict(labels),
        mode=spec.get("Mode") if mode is None else mode,
        update_config=spec.get("UpdateConfig"),
        rollback_config=spec.get("RollbackConfig"),
        networks=spec.get("Networks"),
        endpoint_spec=spec.get("EndpointSpec"),
    )
