"""How fast this container's kernel re-asks for a new replica's link address (ARP).

The gateway probes a new replica's overlay address while it holds calls (scaling/
cold_start.py), and its first probe often leaves before the replica's network is up. The
kernel then marks the address unresolved and asks again only after the interface's ARP
retransmit time, 1 s by default: measured, that second was most of the gap between the
watchdog listening and the first answer (docs/scaling.md, "Measured"). stack.yml lowers
it per interface with `sysctls:`; this module only reads the setting, so the gateway can
say at start when it is missing. (In a container, /proc/sys is read-only: only the engine
can set it.)
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("gateway.neighbours")

NEIGHBOUR_SETTINGS = Path("/proc/sys/net/ipv4/neigh")
# At or above this, a cold start may wait most of a second for nothing.
SLOW_RETRANSMIT_MS = 500


def slow_interfaces(root: Path = NEIGHBOUR_SETTINGS) -> dict[str, int]:
    """Interfaces whose ARP retransmit time is at least `SLOW_RETRANSMIT_MS`, with it
    in milliseconds (empty where the settings cannot be read: not Linux, say)."""
    slow: dict[str, int] = {}
    try:
        interfaces = sorted(path for path in root.iterdir() if path.name not in ("lo", "default"))
    except OSError:
        return slow
    for interface in interfaces:
        try:
            milliseconds = int((interface / "retrans_time_ms").read_text())
        except (OSError, ValueError):
            continue
        if milliseconds >= SLOW_RETRANSMIT_MS:
            slow[interface.name] = milliseconds
    return slow


def warn_if_slow(root: Path = NEIGHBOUR_SETTINGS) -> None:
    """Log once at start which interfaces would slow a cold start, and what to set."""
    slow = slow_interfaces(root)
    if not slow:
        return
    shown = ", ".join(f"{name} {ms} ms" for name, ms in slow.items())
    log.warning(
        "ARP retransmit time %s: a replica probed before its network is up is reached "
        "up to that much later (cold starts, holds). Set the sysctl "
        "net.ipv4.neigh.<interface>.retrans_time_ms=100 for each interface, as stack.yml "
        "does for the gateway (docs/scaling.md)",
        shown,
    )
