"""What the gateways logged as a problem while a test ran, shown with the test's failure.

Beside the front's view (tests/e2e/front_log.py): the gateways' warnings and errors say
what the platform itself saw, an engine that did not answer, a replica that could not
start, a sync that failed. Each distinct one is shown once, with its count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tests.e2e import front_log

PROBLEM = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )?(?P<level>WARNING|ERROR|CRITICAL):?\s+"
    r"(?P<message>.*)$"
)
"""A warning or an error in the gateway's own format (`<date> <time>,<ms> LEVEL logger:
message`) or uvicorn's (`LEVEL:     message`)."""


def problems(lines: Iterable[str]) -> list[str]:
    """The warnings and errors among `lines` (`<RFC 3339 time> <line>`, as `docker logs
    --timestamps` shows them), each distinct one once (`front_log.notable`)."""
    kept = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        problem = PROBLEM.match(text)
        if stamp == "-":  # logged_since's word that a log could not be read
            kept.append(line)
        elif problem:
            kept.append(f"{stamp} {problem['level']} {problem['message']}")
    return front_log.notable(kept)
