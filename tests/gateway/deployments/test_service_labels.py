"""What a deployment becomes in its service's labels (gateway.deployments.service_labels)."""

from __future__ import annotations

from gateway.api_types.bodies import FunctionDeployment
from gateway.deployments import parse_body
from gateway.deployments.service_labels import service_labels
from gateway.labels import MANAGED_LABEL
from gateway.versions.model import VERSION_LABEL


def test_labels_annotations_and_the_platforms_own() -> None:
    deployment = parse_body(
        FunctionDeployment,
        {"service": "hello", "image": "faas/hello:1", "labels": {"team": "a"},
         "annotations": {"topic": "news"}}
    )  # fmt: skip
    assert service_labels(deployment, {VERSION_LABEL: "v2"}) == {
        "team": "a",
        "com.faas.annotation.topic": "news",
        VERSION_LABEL: "v2",
        MANAGED_LABEL: "true",
    }
    assert service_labels(deployment)[MANAGED_LABEL] == "true"
