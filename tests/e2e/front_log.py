"""What the front (HAProxy) logged while a test ran, shown with the test's failure.

front/haproxy.cfg logs each gateway's state changes and every call that ended in an error
or needed a retry. A CI log is often kept only by its end, so a failed e2e test prints
these lines, each distinct one once with its count, at the end of the run: "503" alone
does not say whether a gateway was down, a check timed out or DNS failed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

CALL = re.compile(
    r"^\S+ \[[^]]+\] \S+ (?P<server>\S+) \S+ (?P<status>-?\d+) \S+ \S+ \S+ "
    r"(?P<state>\S+) \S+ \S+ (?P<request>\".*\")$"
)
"""A call's line in HAProxy's HTTP log format (`option httplog`)."""

MESSAGE_LENGTH = 170


def notable(lines: Iterable[str]) -> list[str]:
    """Each distinct event once, in order of its first appearance: `HH:MM:SS.mmm Nx event`.

    Calls are told apart by server, status, termination state and request (not by client
    port or timers; a call logged with status 200 needed a retry). HAProxy's copies of a
    message on standard error (`[WARNING] (1) : `) are dropped.
    """
    first_seen: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for line in lines:
        stamp, _, message = line.partition(" ")
        if not message or message.startswith("["):
            continue
        call = CALL.match(message)
        if call:
            event = (f"call {call['request']} -> {call['status']} via {call['server']} "
                     f"({call['state']})")  # fmt: skip
        else:
            event = message
        event = event[:MESSAGE_LENGTH]
        first_seen.setdefault(event, stamp[11:23])
        counts[event] += 1
    return [f"{first_seen[event]} {counts[event]}x {event}" for event in first_seen]
