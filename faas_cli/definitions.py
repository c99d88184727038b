"""Functions definition files (YAML): what `faas build`, `deploy` and `remove` read.

    gateway: http://127.0.0.1:8080      # optional: the default for --gateway
    functions:
      hello:                            # the function's name (a DNS label)
        image: localhost/faas/hello:latest        # required
        handler: ./hello                # build context with a Dockerfile (faas build)
        fprocess: python3 handler.py    # the watchdog's command (envProcess)
        environment: {GREETING: hi}     # envVars
        labels: {team: docs}
        annotations: {topic: demo}
        constraints: [node.role == manager]
        secrets: [api-key]
        limits: {memory: 64Mi, cpu: "0.5"}
        requests: {memory: 32Mi, cpu: 100m}
        readOnlyRootFilesystem: false

Relative `handler` paths are relative to the file. Values are checked here as far as
the file's own shape goes; the gateway validates the rest and names the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faas_cli.errors import UsageError

DEFAULT_FILE = "faas.yml"
_SCALARS = (str, int, float, bool)
_KEYS = frozenset(
    {
        "image", "handler", "fprocess", "environment", "labels", "annotations",
        "constraints", "secrets", "limits", "requests", "readOnlyRootFilesystem",
    }
)  # fmt: skip


@dataclass(frozen=True)
class FunctionDefinition:
    """One function of a definition file."""

    name: str
    image: str
    handler: Path | None = None
    fprocess: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    limits: Mapping[str, str] | None = None
    requests: Mapping[str, str] | None = None
    read_only_root_filesystem: bool = False

    def deployment(self) -> dict[str, Any]:
        """The body of `POST`/`PUT /system/functions` (OpenFaaS field names)."""
        body: dict[str, Any] = {
            "service": self.name,
            "image": self.image,
            "envVars": dict(self.environment),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "constraints": list(self.constraints),
            "secrets": list(self.secrets),
            "readOnlyRootFilesystem": self.read_only_root_filesystem,
        }
        if self.fprocess is not None:
            body["envProcess"] = self.fprocess
        if self.limits is not None:
            body["limits"] = dict(self.limits)
        if self.requests is not None:
            body["requests"] = dict(self.requests)
        return body


@dataclass(frozen=True)
class DefinitionFile:
    """A parsed definition file."""

    path: Path
    functions: Mapping[str, FunctionDefinition]
    gateway: str | None = None

    def select(self, names: list[str]) -> list[FunctionDefinition]:
        """The named functions (all of them if `names` is empty); unknown names fail."""
        if not names:
            return list(self.functions.values())
        unknown = [name for name in names if name not in self.functions]
        if unknown:
            raise UsageError(
                f"{self.path}: no function named {', '.join(map(repr, unknown))} "
                f"(it defines {', '.join(self.functions) or 'none'})"
            )
        return [self.functions[name] for name in names]


def load_definitions(path: str | Path) -> DefinitionFile:
    """Read and check a definition file; `UsageError` names the file and the key at fault."""
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read the definition file {str(file)!r}: {error.strerror}") from (
            None
        )
    except yaml.YAMLError as error:
        raise UsageError(f"{file}: invalid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise UsageError(f"{file}: expected a mapping with a 'functions' key")
    unknown = sorted(str(key) for key in document if key not in ("gateway", "functions", "version"))
    if unknown:
        raise UsageError(f"{file}: unknown key {unknown[0]!r} (gateway and functions are known)")
    gateway = document.get("gateway")
    if gateway is not None and not isinstance(gateway, str):
        raise UsageError(f"{file}: gateway: expected a URL")
    functions = document.get("functions")
    if not isinstance(functions, Mapping) or not functions:
        raise UsageError(f"{file}: functions: expected a mapping of function names")
    parsed = {str(name): _function(file, str(name), spec) for name, spec in functions.items()}
    return DefinitionFile(path=file, functions=parsed, gateway=gateway)


def _function(file: Path, name: str, spec: object) -> FunctionDefinition:
    where = f"{file}: functions.{name}"
    if not isinstance(spec, Mapping):
        raise UsageError(f"{where}: expected a mapping with at least 'image'")
    unknown = sorted(str(key) for key in spec if key not in _KEYS)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_KEYS))})")
    image = spec.get("image")
    if not isinstance(image, str) or not image:
        raise UsageError(f"{where}.image: required, e.g. 'localhost/faas/{name}:latest'")
    handler = spec.get("handler")
    if handler is not None and not isinstance(handler, str):
        raise UsageError(f"{where}.handler: expected a directory path")
    fprocess = spec.get("fprocess")
    if fprocess is not None and not isinstance(fprocess, str):
        raise UsageError(f"{where}.fprocess: expected a command line")
    read_only = spec.get("readOnlyRootFilesystem", False)
    if not isinstance(read_only, bool):
        raise UsageError(f"{where}.readOnlyRootFilesystem: expected true or false")
    return FunctionDefinition(
        name=name,
        image=image,
        handler=(file.parent / handler).resolve() if handler else None,
        fprocess=fprocess,
        environment=_strings(where, spec, "environment"),
        labels=_strings(where, spec, "labels"),
        annotations=_strings(where, spec, "annotations"),
        constraints=_list(where, spec, "constraints"),
        secrets=_list(where, spec, "secrets"),
        limits=_strings(where, spec, "limits") if "limits" in spec else None,
        requests=_strings(where, spec, "requests") if "requests" in spec else None,
        read_only_root_filesystem=read_only,
    )


def _strings(where: str, spec: Mapping[str, Any], key: str) -> dict[str, str]:
    value = spec.get(key) or {}
    if not isinstance(value, Mapping):
        raise UsageError(f"{where}.{key}: expected a mapping")
    result: dict[str, str] = {}
    for item_key, item in value.items():
        if not isinstance(item, _SCALARS):
            raise UsageError(f"{where}.{key}.{item_key}: expected a string or number")
        # YAML reads `on`, `true` and `1` as non-strings; the API wants strings.
        result[str(item_key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return result


def _list(where: str, spec: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where}.{key}: expected a list of strings")
    return tuple(value)
