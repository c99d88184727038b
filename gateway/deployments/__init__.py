"""The parts the management API's bodies are made of (the bodies themselves are in
`gateway.api_types.bodies`):

- `fields`: the fields' types, each with its bounds, so one definition gives both the
  validation and the OpenAPI schema, and the checks of single values;
- `service_labels`: what a deployment becomes in its service's labels;
- `validation`: the one place pydantic's errors become our messages (`BadRequest`).

The names the other layers use are imported here.
"""

from gateway.deployments.fields import FunctionName, validate_function_name
from gateway.deployments.validation import parse_body

__all__ = ["FunctionName", "parse_body", "validate_function_name"]
