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

OpenFaaS stack files (faas-cli's `stack.yml`) are read as they are:

    version: 1.0
    provider: {name: openfaas, gateway: http://127.0.0.1:8080}
    functions:
      hello:
        lang: python3                   # ignored: `image` is what is deployed
        image: localhost/faas/hello:latest
        environment_file: [env.yml]     # files with an `environment:` map, in order
        readonly_root_filesystem: true  # OpenFaaS's spelling of readOnlyRootFilesystem
        namespace: openfaas-fn          # sent along; the gateway checks it

`environment_file` values override `environment`, as faas-cli merges them. What faas
cannot honour (`configuration`, `provider.network`, `build_options`, `registry_auth`,
`platforms`, `build_secrets`) is listed in `DefinitionFile.ignored`, which the commands
print as a warning. A function without `image` is an error. Templates: docs/templates.md.
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
_TOP_KEYS = frozenset({"gateway", "functions", "version", "provider"})
_PROVIDERS = ("openfaas", "faas")
_KEYS = frozenset(
    {
        "image", "handler", "fprocess", "environment", "labels", "annotations",
        "constraints", "secrets", "limits", "requests", "readOnlyRootFilesystem",
        # OpenFaaS's stack file: honoured.
        "lang", "environment_file", "readonly_root_filesystem", "namespace", "skip_build",
        "build_args",
    }
)  # fmt: skip
# OpenFaaS stack file keys faas reads but cannot honour (a warning names each one).
_UNHONOURED_TOP_KEYS = frozenset({"configuration"})
_UNHONOURED_KEYS = frozenset({"build_options", "registry_auth", "platforms", "build_secrets"})


@dataclass(frozen=True)
class FunctionDefinition:
    """One function of a definition file."""

    name: str
    image: str
    handler: Path | None = None
    # A template language (template/<lang>/): the handler is that template's function/.
    lang: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    fprocess: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    limits: Mapping[str, str] | None = None
    requests: Mapping[str, str] | None = None
    read_only_root_filesystem: bool = False
    namespace: str | None = None

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
        if self.namespace:
            body["namespace"] = self.namespace
        return body


@dataclass(frozen=True)
class DefinitionFile:
    """A parsed definition file."""

    path: Path
    functions: Mapping[str, FunctionDefinition]
    gateway: str | None = None
    # Keys of an OpenFaaS stack file faas cannot honour (`functions.hello.build_args`).
    ignored: tuple[str, ...] = ()

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
    known = _TOP_KEYS | _UNHONOURED_TOP_KEYS
    unknown = sorted(str(key) for key in document if key not in known)
    if unknown:
        raise UsageError(f"{file}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    ignored = [str(key) for key in document if key in _UNHONOURED_TOP_KEYS]
    gateway = document.get("gateway")
    if gateway is not None and not isinstance(gateway, str):
        raise UsageError(f"{file}: gateway: expected a URL")
    provider_gateway = _provider(file, document.get("provider"), ignored)
    functions = document.get("functions")
    if not isinstance(functions, Mapping) or not functions:
        raise UsageError(f"{file}: functions: expected a mapping of function names")
    parsed = {
        str(name): _function(file, str(name), spec, ignored) for name, spec in functions.items()
    }
    return DefinitionFile(
        path=file,
        functions=parsed,
        gateway=gateway or provider_gateway,
        ignored=tuple(ignored),
    )


def _provider(file: Path, provider: object, ignored: list[str]) -> str | None:
    """The gateway an OpenFaaS `provider:` section names, if any."""
    if provider is None:
        return None
    if not isinstance(provider, Mapping):
        raise UsageError(f"{file}: provider: expected a mapping with name and gateway")
    name = provider.get("name")
    if name is not None and name not in _PROVIDERS:
        raise UsageError(f"{file}: provider.name: expected openfaas, got {name!r}")
    unknown = sorted(str(key) for key in provider if key not in ("name", "gateway", "network"))
    if unknown:
        raise UsageError(f"{file}: provider.{unknown[0]}: unknown key")
    if "network" in provider:
        ignored.append("provider.network")
    gateway = provider.get("gateway")
    if gateway is not None and not isinstance(gateway, str):
        raise UsageError(f"{file}: provider.gateway: expected a URL")
    return gateway or None


def _function(file: Path, name: str, spec: object, ignored: list[str]) -> FunctionDefinition:
    where = f"{file}: functions.{name}"
    if not isinstance(spec, Mapping):
        raise UsageError(f"{where}: expected a mapping with at least 'image'")
    known = _KEYS | _UNHONOURED_KEYS
    unknown = sorted(str(key) for key in spec if key not in known)
    if unknown:
        raise UsageError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    ignored.extend(f"functions.{name}.{key}" for key in spec if key in _UNHONOURED_KEYS)
    lang = spec.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise UsageError(f"{where}.lang: expected a language name")
    image = spec.get("image")
    if not isinstance(image, str) or not image:
        raise UsageError(f"{where}.image: required, e.g. 'localhost/faas/{name}:latest'")
    handler = spec.get("handler")
    if handler is not None and not isinstance(handler, str):
        raise UsageError(f"{where}.handler: expected a directory path")
    skip_build = spec.get("skip_build", False)
    if not isinstance(skip_build, bool):
        raise UsageError(f"{where}.skip_build: expected true or false")
    if skip_build:
        handler = None
    namespace = spec.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise UsageError(f"{where}.namespace: expected a namespace name")
    fprocess = spec.get("fprocess")
    if fprocess is not None and not isinstance(fprocess, str):
        raise UsageError(f"{where}.fprocess: expected a command line")
    read_only = False
    for spelling in ("readOnlyRootFilesystem", "readonly_root_filesystem"):
        value = spec.get(spelling, False)
        if not isinstance(value, bool):
            raise UsageError(f"{where}.{spelling}: expected true or false")
        read_only = read_only or value
    return FunctionDefinition(
        name=name,
        image=image,
        handler=(file.parent / handler).resolve() if handler else None,
        lang=lang or None,
        build_args=_strings(where, spec, "build_args"),
        fprocess=fprocess,
        environment={
            **_strings(where, spec, "environment"),
            **_environment_files(file, where, spec),
        },
        labels=_strings(where, spec, "labels"),
        annotations=_strings(where, spec, "annotations"),
        constraints=_list(where, spec, "constraints"),
        secrets=_list(where, spec, "secrets"),
        limits=_strings(where, spec, "limits") if "limits" in spec else None,
        requests=_strings(where, spec, "requests") if "requests" in spec else None,
        read_only_root_filesystem=read_only,
        namespace=namespace or None,
    )


def _environment_files(file: Path, where: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """The `environment:` maps of the files `environment_file` lists (relative to the
    definition file), later files overriding earlier ones."""
    environment: dict[str, str] = {}
    for name in _list(where, spec, "environment_file"):
        path = file.parent / name
        key = f"{where}.environment_file"
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise UsageError(f"{key}: cannot read {str(path)!r}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise UsageError(f"{key}: {path}: invalid YAML: {error}") from None
        if not isinstance(document, Mapping) or "environment" not in document:
            raise UsageError(f"{key}: {path}: expected a mapping with an 'environment' key")
        environment.update(_strings(f"{key}: {path}", document, "environment"))
    return environment


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
