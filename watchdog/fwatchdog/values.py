"""One parser per kind of value written as text: integers, durations, booleans, DNS
labels, URLs.

The watchdog's variables (``exec_timeout=2m``), the gateway's (``GATEWAY_HOLD_TIMEOUT=2m``)
and the service labels the gateway reads (``com.faas.scale.cooldown=2m``) all parse here,
so a value means the same wherever it is written, and an invalid one is reported in one
shape by ``invalid``.

Why this module sits in the watchdog's package: the watchdog ships alone, as a zipapp of
this package that runs on Python >= 3.9, with no gateway code inside; the gateway, which
needs Python 3.11 anyway, can import a py39 module but not the other way round. So the
shared parsers live on the watchdog's side, standard library only, importing nothing of
the watchdog either: a leaf. The gateway imports this module and no other of the
watchdog's (tests/gateway/test_layers.py holds both rules), its image copies this file
and the package's ``__init__`` beside ``gateway/``, and the project installs the package
with the gateway (pyproject.toml). A third top-level package would have had to be copied
into the zipapp and onto the watchdog's path too, and ``python3 -m fwatchdog`` from its
own folder would no longer run.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # urllib.parse is loaded by parse_http_url, not by a fork-mode watchdog
    from urllib.parse import SplitResult

DURATION = "a duration such as 500ms, 2.5s, 2m, 1m30s or 1h (a bare number is seconds)"
"""What a duration looks like, for error messages."""
BOOLEAN = "true or false (or 1/0, yes/no, on/off)"
"""What a boolean looks like, for error messages."""
DNS_LABEL = (
    "a DNS label (lower-case letters, digits and '-', 1-63 characters, starting and ending "
    "with a letter or digit)"
)
"""What a DNS label looks like, for error messages."""
DNS_LABEL_PATTERN = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
"""A DNS label (RFC 1123, lower case): for validators that take a pattern (pydantic)."""

MAX_TEXT_LENGTH = 64
"""Longer values are invalid before any parsing (no 5,000-digit numbers)."""
MAX_SECONDS = 1e9
"""Durations at or above this (about 31 years) are invalid."""

# A decimal number in ASCII digits: `5`, `2.5`, `.5`, `1e3`.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_DURATION_PART = re.compile(rf"({_NUMBER})(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_INTEGER = re.compile(r"[0-9]+", re.ASCII)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN, re.ASCII)


def parse_integer(text: str, least: int, most: int) -> int | None:
    """An integer in ASCII digits (no sign, no `_`), from `least` to `most`; None otherwise.
    Blanks around it are ignored."""
    text = text.strip()
    if len(text) > MAX_TEXT_LENGTH or _INTEGER.fullmatch(text) is None:
        return None
    value = int(text)
    return value if least <= value <= most else None


def parse_duration(text: str) -> float | None:
    """Seconds from a Go-style duration (``500ms``, ``2.5s``, ``2m``, ``1m30s``, ``1h``,
    ``250us``, ``10ns``) or a bare number of seconds (``30``, ``2.5``); None if invalid.

    Durations are at least 0 and below ``MAX_SECONDS``; digits are ASCII only (Python's
    ``float`` also reads ``٣``).
    """
    text = text.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        return None
    seconds = _bare_number(text)
    if seconds is None:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            return None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    return seconds if 0 <= seconds < MAX_SECONDS else None


def _bare_number(text: str) -> float | None:
    # What `float` reads, as the variables always have been (`+5`, `1e3`, `1_0`), but in
    # ASCII; `nan` and `inf` are read too, and refused by the caller's bounds.
    if not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_bool(text: str) -> bool | None:
    """``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``, any case; None
    otherwise."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def is_dns_label(text: str) -> bool:
    """Whether `text` is a DNS label: lower-case ASCII letters, digits and '-', 1-63
    characters, alphanumeric at both ends."""
    return _DNS_LABEL.fullmatch(text) is not None


def parse_http_url(text: str) -> SplitResult | None:
    """The parts of an ``http://`` URL with a host (and, if any, a valid port); None
    otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        return None
    return parts if parts.scheme == "http" and parts.hostname else None


def invalid(name: str, raw: str, expected: str) -> str:
    """The one message for a value that cannot be used: it names the variable (or label),
    says what was expected and shows what was given."""
    return f"{name}: expected {expected}, got {raw!r}"
