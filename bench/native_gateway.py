"""`python -m bench.native_gateway`: the gateway as `python -m gateway` serves it alone
(one process), with its header path in C (bench/native: issue 36's prototype).

The four pure functions of the hot path that `_faas_headers` implements replace the Python
ones in every gateway module that holds them (`from ... import name` copies included), so
the gateway runs unchanged around them. One process: spawned workers would import the
Python functions afresh. Scenario 6 measures it beside the same gateway in Python.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from types import ModuleType

from bench.native.build import load
from bench.processes import NotAvailable
from gateway.assembly import configure_logging
from gateway.config import ConfigError, load_config
from gateway.proxy import call_ids, headers
from gateway.proxy.http1 import request
from gateway.workers import serve

log = logging.getLogger("bench.native_gateway")


def replacements(native: ModuleType) -> list[tuple[Callable[..., object], object]]:
    """Each Python function of the header path, and the C function that replaces it."""
    return [
        (headers.forwarded_request_headers, native.forwarded_request_headers),
        (headers.downstream_response_headers, native.downstream_response_headers),
        (call_ids.new_call_id, native.new_call_id),
        (request.request_head, native.request_head),
    ]


def swap_in(native: ModuleType) -> list[str]:
    """Replace the Python functions by `native`'s in every loaded gateway module; the
    names replaced (`module.attribute`), sorted."""
    pairs = replacements(native)
    swapped: list[str] = []
    for module_name, module in list(sys.modules.items()):
        if module_name != "gateway" and not module_name.startswith("gateway."):
            continue
        for attribute, value in list(vars(module).items()):
            for original, replacement in pairs:
                if value is original:
                    setattr(module, attribute, replacement)
                    swapped.append(f"{module_name}.{attribute}")
    return sorted(swapped)


def main() -> int:
    """Serve until interrupted, in one process; 2 on a configuration error, 3 when the C
    module cannot be built here."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        native = load()  # before the swap: it keeps the Python functions to fall back to
    except NotAvailable as error:
        print(f"gateway: the C header path cannot be built: {error}", file=sys.stderr)
        return 3
    configure_logging(config)
    swapped = swap_in(native)
    log.warning("the header path is in C (bench/native, a prototype): %s", ", ".join(swapped))
    serve(dataclasses.replace(config, workers=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
