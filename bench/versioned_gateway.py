"""`python -m bench.versioned_gateway`: the gateway as `python -m gateway` serves it alone
(one process), with versions the static provider cannot describe by itself.

A static function named `<function>@<version>` becomes that version of `<function>`: the
service `<function>-<version>`, labelled as a deployment of a version labels it
(docs/versions.md), and `<function>` gets the weights, split equally between its own
version (v1) and the others. Scenario 3 routes one gateway's calls to a function with one
version and to one with two weighted versions, to compare the hops in the same run.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

from gateway.assembly import configure_logging
from gateway.config import ConfigError, load_config
from gateway.providers.base import Function
from gateway.versions.model import TRAFFIC_LABEL, VERSION_LABEL, VERSION_OF_LABEL
from gateway.workers import serve

OWN_VERSION = "v1"


def with_versions(functions: Sequence[Function]) -> tuple[Function, ...]:
    """`functions`, each `<function>@<version>` made a version of `<function>` (see the
    module); equal weights, the remainder to the function's own version."""
    versions: dict[str, list[str]] = {}
    made: list[Function] = []
    for function in functions:
        owner, _, version = function.name.partition("@")
        if not version:
            made.append(function)
            continue
        versions.setdefault(owner, []).append(version)
        labels = {VERSION_OF_LABEL: owner, VERSION_LABEL: version}
        made.append(dataclasses.replace(function, name=f"{owner}-{version}", labels=labels))
    for index, function in enumerate(made):
        others = versions.get(function.name)
        if not others:
            continue
        names = [OWN_VERSION, *others]
        share = 100 // len(names)
        weights = {name: share for name in names}
        weights[OWN_VERSION] += 100 - share * len(names)
        traffic = ",".join(f"{name}={weight}" for name, weight in weights.items())
        made[index] = dataclasses.replace(function, labels={TRAFFIC_LABEL: traffic})
    return tuple(made)


def main() -> int:
    """Serve until interrupted, in one process (workers would read the plain config
    again); 2 on a configuration error."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    config = dataclasses.replace(
        config, static_functions=with_versions(config.static_functions), workers=1
    )
    configure_logging(config)
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
