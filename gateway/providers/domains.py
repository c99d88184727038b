"""Custom domains: which function each host name of a `com.faas.domain` label reaches.

Built with the registry's index (`FunctionRegistry`), so the host rule is one dict get.
The management API refuses a domain another function has (409 at deploy), but services
created outside it (a stack file, `docker service create`) may still claim one twice: the
oldest service wins (by creation time, then name), the same in every worker and gateway,
and each such clash is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from gateway.labels import DOMAIN_LABEL, parse_domains

if TYPE_CHECKING:
    from gateway.providers.base import Function

log = logging.getLogger("gateway.domains")

_UNKNOWN_AGE = "~"  # after any RFC 3339 time: a service of unknown age is the newest


def domains_of(function: Function) -> tuple[str, ...]:
    """The custom domains `function`'s labels claim (none if the label is invalid)."""
    raw = function.labels.get(DOMAIN_LABEL, "")
    return (parse_domains(raw) or ()) if raw.strip() else ()


def owner(function: Function) -> str:
    """The function a service belongs to: a version's function, else its own name."""
    return function.version_of or function.name


def claim_order(function: Function) -> tuple[str, str]:
    """How claims to one domain are ranked: the oldest service first, then by name."""
    return (function.created_at or _UNKNOWN_AGE, function.name)


def index_domains(functions: Iterable[Function]) -> tuple[dict[str, Function], set[str]]:
    """Each claimed domain's winner, and a line for every domain that several functions
    claim (naming the winner and the others)."""
    claims: dict[str, list[Function]] = {}
    for function in functions:
        for domain in domains_of(function):
            claims.setdefault(domain, []).append(function)
    winners: dict[str, Function] = {}
    clashes: set[str] = set()
    for domain, claimants in claims.items():
        claimants.sort(key=claim_order)
        winners[domain] = claimants[0]
        losers = sorted({owner(f) for f in claimants[1:]} - {owner(claimants[0])})
        if losers:
            clashes.add(
                f"custom domain {domain!r} ({DOMAIN_LABEL}) is claimed by {owner(claimants[0])!r}"
                f" (the oldest) and by {', '.join(map(repr, losers))}: it reaches "
                f"{owner(claimants[0])!r}"
            )
    return winners, clashes


def log_new_clashes(clashes: set[str], logged: set[str]) -> None:
    """Log each clash once (the registry re-indexes on every change)."""
    for line in sorted(clashes - logged):
        log.warning("%s", line)


def claimed_by_others(
    domains: Iterable[str], function: str, functions: Iterable[Function]
) -> Mapping[str, str]:
    """Which of `domains` a function other than `function` claims, and who claims it."""
    wanted = set(domains)
    taken: dict[str, str] = {}
    for other in sorted(functions, key=claim_order):
        if owner(other) == function:
            continue
        for domain in domains_of(other):
            if domain in wanted:
                taken.setdefault(domain, owner(other))
    return taken
