"""The gateway's imports point one way (docs/architecture.md): parsed with `ast`, no import.

Each rule names a package (or module) and what it must never import, directly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"

# (modules the rule covers, forbidden import prefixes)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("gateway.app", ("docker",)),
    # The supervisor and its workers: builds apps, never reaches into the layers' parts.
    ("gateway.workers", ("docker", "gateway.proxy", "gateway.routing", "gateway.management",
                         "gateway.scaling")),
    # The workers' shared folder: a leaf.
    ("gateway.shared", ("gateway.",)),
    # What one worker learns, every worker reads: a leaf the proxy and scaling import.
    ("gateway.shared_memory", ("gateway.",)),
    ("gateway.management", ("docker", "gateway.proxy", "gateway.routing")),
    # The web console: static files behind the management API's auth.
    ("gateway.console", ("docker", "gateway.proxy", "gateway.routing", "gateway.providers",
                         "gateway.scaling", "gateway.metrics")),
    ("gateway.routing", ("docker", "aiohttp", "gateway.proxy", "gateway.providers",
                         "gateway.management", "gateway.scaling", "gateway.metrics")),
    ("gateway.providers", ("starlette", "aiohttp", "gateway.proxy", "gateway.routing",
                           "gateway.scaling", "gateway.metrics", "gateway.app",
                           "gateway.management")),
    # The API objects (deployment bodies): a leaf every layer may import.
    ("gateway.deployments", ("docker", "starlette", "aiohttp", "gateway.proxy",
                             "gateway.routing", "gateway.providers", "gateway.management",
                             "gateway.scaling", "gateway.metrics", "gateway.config")),
    # The management API's bodies and answers: a leaf every layer may import.
    ("gateway.api_types", ("docker", "starlette", "aiohttp", "gateway.proxy",
                           "gateway.routing", "gateway.providers", "gateway.management",
                           "gateway.scaling", "gateway.metrics", "gateway.config")),
    # Versions and the weighted choice (docs/versions.md): read on the hot path and by the
    # Swarm writes, so plain values: labels and errors, `Function` for types only (see
    # below); never the engine, the HTTP layers, metrics or scaling.
    ("gateway.providers.traffic", ("docker", "starlette", "aiohttp", "gateway.proxy",
                                   "gateway.routing", "gateway.management", "gateway.scaling",
                                   "gateway.metrics", "gateway.config", "gateway.deployments",
                                   "gateway.app", "gateway.providers.swarm",
                                   "gateway.providers.static")),
    ("gateway.proxy", ("docker", "gateway.management", "gateway.scaling", "gateway.metrics",
                       "gateway.providers.swarm", "gateway.providers.static")),
    # The upstream HTTP client: bytes and sockets; the forwarder maps its errors.
    ("gateway.proxy.http1", ("aiohttp", "starlette", "gateway.errors", "gateway.config",
                             "gateway.providers", "gateway.routing", "gateway.proxy.forwarder",
                             "gateway.proxy.handler")),
    ("gateway.scaling", ("docker", "aiohttp", "gateway.management", "gateway.routing",
                         "gateway.metrics")),
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
    # The labels the platform reads, and their parsers.
    ("gateway.labels", ("gateway.",)),
    # Reads this container's ARP settings at start: a leaf.
    ("gateway.neighbours", ("gateway.",)),
    ("gateway.asgi", ("gateway.proxy", "gateway.routing", "gateway.providers",
                      "gateway.management", "gateway.scaling", "gateway.metrics")),
    # The server's request-head bounds: uvicorn and the config, nothing of the layers.
    ("gateway.http_limits", ("gateway.proxy", "gateway.routing", "gateway.providers",
                             "gateway.management", "gateway.scaling", "gateway.metrics")),
    # Async calls: the proxy driven by a queue; never the engine, never a provider's inside.
    ("gateway.async_calls", ("docker", "aiohttp", "gateway.providers.swarm",
                             "gateway.providers.static", "gateway.management.api")),
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


def test_traffic_reads_the_providers_function_for_types_only() -> None:
    # gateway.providers.base imports gateway.providers.traffic (the registry groups the
    # versions); an import back at run time would be a cycle.
    tree = ast.parse(MODULES["gateway.providers.traffic"].read_text())
    at_run_time = {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
    } | {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in at_run_time if covered(name, "gateway.providers")}
    assert "gateway.providers.base" in imports(MODULES["gateway.providers.traffic"])
