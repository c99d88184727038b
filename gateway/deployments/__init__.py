"""What a client asks the management API to do with a function, typed once.

Each body is a pydantic model whose fields carry their bounds, so one definition gives
both the validation here and the schema `gateway.management.openapi` serves:

- `request`: the bodies (`FunctionDeployment`, scale, removal) and their parsers;
- `fields`: the fields' types and the checks of single values;
- `service_labels`: what a deployment becomes in its service's labels;
- `validation`: the one place pydantic's errors become our messages (`BadRequest`).

The names the other layers use are imported here.
"""

from gateway.deployments.fields import FunctionName, validate_function_name
from gateway.deployments.request import (
    RESERVED_FUNCTION_NAMES,
    DeleteFunctionRequest,
    FunctionDeployment,
    ResourceSpec,
    ScaleRequest,
    parse_delete_request,
    parse_deployment,
    parse_scale_request,
)

__all__ = [
    "RESERVED_FUNCTION_NAMES",
    "DeleteFunctionRequest",
    "FunctionDeployment",
    "FunctionName",
    "ResourceSpec",
    "ScaleRequest",
    "parse_delete_request",
    "parse_deployment",
    "parse_scale_request",
    "validate_function_name",
]
