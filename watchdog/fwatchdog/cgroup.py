"""The CPU time this container has used, read from its cgroup, for the gateway's `cpu`
scaling (docs/scaling.md, "What each type measures").

`GET /_/cpu` answers `<usage µs> <monotonic µs>`: the CPU time every process of the
container used (the watchdog, the function's processes and their children, as the kernel
counts it for the cgroup) and this moment on the container's monotonic clock. Two
answers give the millicores used in between; the gateway asks each replica once a pass.
"""

from __future__ import annotations

import time
from pathlib import Path

CPU_PATH = "/_/cpu"
# cgroup v2 (`usage_usec` in cpu.stat), then v1 (`cpuacct.usage`, in nanoseconds), as a
# container with its own cgroup namespace (or Docker's v1 mounts) sees its own cgroup.
CGROUP_V2_STAT = Path("/sys/fs/cgroup/cpu.stat")
CGROUP_V1_USAGE = (
    Path("/sys/fs/cgroup/cpuacct/cpuacct.usage"),
    Path("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"),
)


def cpu_usage_usec(
    v2_stat: Path = CGROUP_V2_STAT, v1_usage: tuple[Path, ...] = CGROUP_V1_USAGE
) -> int | None:
    """Microseconds of CPU the cgroup used since it began; None if no figure is readable."""
    try:
        for line in v2_stat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isascii() and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    for path in v1_usage:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isascii() and text.isdigit():
            return int(text) // 1000
    return None


def cpu_report() -> str | None:
    """The body of `GET /_/cpu`, or None when the cgroup's figures cannot be read."""
    usage = cpu_usage_usec()
    if usage is None:
        return None
    return f"{usage} {time.monotonic_ns() // 1000}"
