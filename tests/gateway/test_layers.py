"""The gateway's imports point one way (docs/architecture.md): parsed with `ast`, no import.

Each rule names a package (or module) and what it must never import, directly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
WATCHDOG = GATEWAY.parent / "watchdog" / "fwatchdog"
# The one module of the watchdog's the gateway may import: the parsers both share, a leaf
# (its docstring says why it lives there).
SHARED_PARSERS = "fwatchdog.values"

# The parts of `gateway.versions` above the providers (the controller reads `Function`s
# and writes through the provider) and the API's bodies (built on `gateway.deployments`).
_VERSIONS_ABOVE_THE_PROVIDERS = (
    "gateway.versions.requests",
    "gateway.versions.canary",
    "gateway.versions.controller",
)

# (modules the rule covers, forbidden import prefixes)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("gateway.app", ("docker",)),
    # The parts a call goes through, built once for the gateway and the queue worker: below
    # both (never the apps, the doors or the supervisor), above the layers it assembles.
    ("gateway.assembly", ("docker", "starlette", "aiohttp", "gateway.app", "gateway.workers",
                          "gateway.platform", "gateway.async_calls", "gateway.management",
                          "gateway.routing", "gateway.console")),
    # The gateway's own endpoints and the lifespan: never the hot path or an engine.
    ("gateway.platform", ("docker", "gateway.app", "gateway.workers", "gateway.proxy",
                          "gateway.routing", "gateway.providers.swarm",
                          "gateway.providers.static")),
    # Finds the function a call goes to, for every door: the provider's view, namespaces and
    # the version choice; never the doors, the proxy, scaling or an engine.
    ("gateway.calls", ("docker", "starlette", "aiohttp", "gateway.app", "gateway.assembly",
                       "gateway.workers", "gateway.async_calls", "gateway.proxy",
                       "gateway.routing", "gateway.management", "gateway.scaling",
                       "gateway.metrics", "gateway.config", "gateway.providers.swarm",
                       "gateway.providers.static")),
    # The supervisor and its workers: builds apps, never reaches into the layers' parts.
    ("gateway.workers", ("docker", "gateway.proxy", "gateway.routing", "gateway.management",
                         "gateway.scaling")),
    # What the workers share (folder, tables, locks): a leaf every layer may import.
    ("gateway.shared", ("gateway.",)),
    ("gateway.management", ("docker", "gateway.proxy", "gateway.routing")),
    # The web console: static files behind the management API's auth.
    ("gateway.console", ("docker", "gateway.proxy", "gateway.routing", "gateway.providers",
                         "gateway.scaling", "gateway.metrics")),
    ("gateway.routing", ("docker", "aiohttp", "gateway.proxy", "gateway.providers",
                         "gateway.management", "gateway.scaling", "gateway.metrics",
                         "gateway.versions")),
    ("gateway.providers", ("starlette", "aiohttp", "gateway.proxy", "gateway.routing",
                           "gateway.scaling", "gateway.metrics", "gateway.app",
                           "gateway.management", "gateway.api_types.answers",
                           *_VERSIONS_ABOVE_THE_PROVIDERS)),
    # What the API's bodies are made of (field types, validation): a leaf every layer may
    # import.
    ("gateway.deployments", ("docker", "starlette", "aiohttp", "gateway.proxy",
                             "gateway.routing", "gateway.providers", "gateway.management",
                             "gateway.scaling", "gateway.metrics", "gateway.config",
                             "gateway.api_types", "gateway.versions.traffic",
                             *_VERSIONS_ABOVE_THE_PROVIDERS)),
    # The management API's bodies and answers (a function's status shows its canary).
    ("gateway.api_types", ("docker", "starlette", "aiohttp", "gateway.proxy",
                           "gateway.routing", "gateway.providers", "gateway.management",
                           "gateway.scaling", "gateway.metrics", "gateway.config",
                           "gateway.versions.traffic", "gateway.versions.controller")),
    # The bodies: the providers receive them, so nothing above the providers.
    ("gateway.api_types.bodies", ("gateway.api_types.answers", "gateway.versions.traffic",
                                  *_VERSIONS_ABOVE_THE_PROVIDERS)),
    # Versions (docs/versions.md): everything about them, never the engine, the HTTP layers,
    # metrics or scaling; the controller writes through the provider's protocol.
    ("gateway.versions", ("docker", "starlette", "aiohttp", "gateway.proxy", "gateway.routing",
                          "gateway.management", "gateway.scaling", "gateway.metrics",
                          "gateway.config", "gateway.app", "gateway.async_calls",
                          "gateway.providers.swarm", "gateway.providers.static")),
    # The model and the weighted choice: read on the hot path and by the providers' writes,
    # so plain values: labels and errors, `Function` for types only (see below).
    ("gateway.versions.model", ("gateway.deployments", "gateway.versions.traffic",
                                *_VERSIONS_ABOVE_THE_PROVIDERS)),
    ("gateway.versions.traffic", ("gateway.deployments", *_VERSIONS_ABOVE_THE_PROVIDERS)),
    ("gateway.proxy", ("docker", "gateway.management", "gateway.scaling", "gateway.metrics",
                       "gateway.providers.swarm", "gateway.providers.static",
                       "gateway.assembly", *_VERSIONS_ABOVE_THE_PROVIDERS)),
    # The upstream HTTP client: bytes and sockets; the forwarder maps its errors.
    ("gateway.proxy.http1", ("aiohttp", "starlette", "gateway.errors", "gateway.config",
                             "gateway.providers", "gateway.routing", "gateway.proxy.forwarder",
                             "gateway.proxy.handler")),
    ("gateway.scaling", ("docker", "aiohttp", "gateway.management", "gateway.routing",
                         "gateway.metrics", "gateway.assembly", "gateway.calls")),
    # A leaf: its modules import one another, nothing else of the gateway.
    ("gateway.metrics", ("gateway.",)),
    # config reads static functions into the providers' `Function`, a value type.
    ("gateway.config", ("gateway.proxy", "gateway.routing", "gateway.management",
                        "gateway.scaling", "gateway.metrics", "gateway.providers.swarm",
                        "gateway.providers.static")),
    ("gateway.errors", ("gateway.",)),
    # The `<name>.<namespace>` spelling: errors only, so every layer may read names with it.
    ("gateway.namespaces", ("docker", "starlette", "gateway.proxy", "gateway.routing",
                            "gateway.providers", "gateway.management", "gateway.scaling",
                            "gateway.metrics", "gateway.config", "gateway.deployments")),
    # The names no function may take: a leaf, read by the bodies and the versions' model.
    ("gateway.reserved_names", ("gateway.",)),
    # The labels the platform reads, and their parsers.
    ("gateway.labels", ("gateway.",)),
    # Reads this container's ARP settings at start: a leaf.
    ("gateway.neighbours", ("gateway.",)),
    # The drain's marker and clock: a leaf, read by /healthz, driven by the signal handlers.
    ("gateway.drain", ("gateway.",)),
    # The drain's wait for another replica: sockets and the drain's clock only.
    ("gateway.drain_peers", ("docker", "starlette", "gateway.proxy", "gateway.routing",
                             "gateway.providers", "gateway.management", "gateway.scaling",
                             "gateway.metrics", "gateway.config", "gateway.app")),
    ("gateway.asgi", ("gateway.proxy", "gateway.routing", "gateway.providers",
                      "gateway.management", "gateway.scaling", "gateway.metrics")),
    # The server's request-head bounds: uvicorn and the config, nothing of the layers.
    ("gateway.http_limits", ("gateway.proxy", "gateway.routing", "gateway.providers",
                             "gateway.management", "gateway.scaling", "gateway.metrics")),
    # The server protocol and its lean cycle for function calls: uvicorn, the bounds, the
    # config; the app it serves is handed in (`direct_app`), never imported.
    ("gateway.http_calls", ("gateway.proxy", "gateway.routing", "gateway.providers",
                            "gateway.management", "gateway.scaling", "gateway.metrics",
                            "gateway.app")),
    ("gateway.http_cycle", ("gateway.",)),
    # Async calls: the proxy driven by a queue; never the engine, never a provider's inside,
    # never the gateway's app or supervisor (the queue worker's parts: `gateway.assembly`).
    ("gateway.async_calls", ("docker", "aiohttp", "gateway.providers.swarm",
                             "gateway.providers.static", "gateway.management.api",
                             "gateway.app", "gateway.workers")),
    # Triggers (docs/triggers.md): the parser is a leaf beside the labels (the API's bodies
    # check with it); the scheduler and connectors drive the async queue, never the engine
    # directly (the lease comes from the provider), the apps or the hot path's parts.
    ("gateway.triggers.annotations", ("docker", "starlette", "gateway.proxy", "gateway.routing",
                                      "gateway.providers", "gateway.management",
                                      "gateway.scaling", "gateway.metrics", "gateway.config",
                                      "gateway.async_calls", "gateway.api_types",
                                      "gateway.deployments", "gateway.triggers.scheduler")),
    ("gateway.triggers", ("docker", "aiohttp", "gateway.app", "gateway.workers",
                          "gateway.proxy", "gateway.routing", "gateway.scaling")),
    ("gateway.http_errors", ("gateway.proxy", "gateway.routing", "gateway.providers",
                             "gateway.management", "gateway.scaling", "gateway.metrics")),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(GATEWAY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): path for path in sorted(GATEWAY.rglob("*.py"))}


def covered(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden(scope: str, imported: str, prefixes: tuple[str, ...]) -> bool:
    for prefix in prefixes:
        if prefix.endswith("."):  # "gateway.": anything of the gateway outside the scope
            if imported.startswith(prefix) and not covered(imported, scope):
                return True
        elif covered(imported, prefix):
            return True
    return False


@pytest.mark.parametrize(("scope", "prefixes"), RULES, ids=[rule[0] for rule in RULES])
def test_imports_point_one_way(scope: str, prefixes: tuple[str, ...]) -> None:
    modules = {name: path for name, path in MODULES.items() if covered(name, scope)}
    assert modules, f"no module under {scope}"
    broken = sorted(
        f"{name} imports {imported}"
        for name, path in modules.items()
        for imported in imports(path)
        if forbidden(scope, imported, prefixes)
    )
    assert broken == []


def test_every_package_is_covered_by_a_rule() -> None:
    top_level = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    ruled = {scope.split(".")[1] for scope, _ in RULES}
    allowed_unruled = {"__main__", "server"}
    assert top_level - ruled - allowed_unruled == set()


@pytest.mark.parametrize("module", ["gateway.versions.model", "gateway.versions.traffic"])
def test_versions_read_the_providers_function_for_types_only(module: str) -> None:
    # gateway.providers.base imports gateway.versions.traffic (the registry groups the
    # versions); an import back at run time would be a cycle.
    tree = ast.parse(MODULES[module].read_text())
    at_run_time = {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
    } | {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in at_run_time if covered(name, "gateway.providers")}
    assert "gateway.providers.base" in imports(MODULES[module])


def test_the_gateway_imports_of_the_watchdog_only_its_shared_parsers() -> None:
    broken = sorted(
        f"{name} imports {imported}"
        for name, path in MODULES.items()
        for imported in imports(path)
        if covered(imported, "fwatchdog") and not covered(imported, SHARED_PARSERS)
    )
    assert broken == []


def test_the_shared_parsers_are_a_leaf() -> None:
    # The gateway imports them, so they import neither the rest of the watchdog (the
    # gateway would load it) nor the gateway (the zipapp carries no gateway code).
    path = WATCHDOG / "values.py"
    relative = [
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []
    assert [name for name in imports(path) if name.startswith(("fwatchdog", "gateway"))] == []


def test_the_versions_package_imports_nothing() -> None:
    # Its modules sit at two heights (the model below the providers, the controller above):
    # importing the package must not import the controller.
    assert imports(MODULES["gateway.versions"]) == set()
