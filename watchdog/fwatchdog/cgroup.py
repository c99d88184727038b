"""The CPU time this container has used, read from its cgroup, for the gateway's `cpu`
scaling (docs/scaling.md, "What each type measures").

`GET /_/cpu` answers `<usage µs> <monotonic µs>`: the CPU time every process of the
container used (the watchdog, the function's processes and their children, as the kernel
counts it for the cgroup) and this moment on the container's monotonic clock. Two
answers give the millicores used in between; the gateway asks each replica once a pass.
"""

from __future__ import annotations

import os
import time
from typing import Union

# Plain paths and open(), not pathlib: pathlib (and the urllib.parse it loads) would be
# 0.7 MB of an idle watchdog's RSS.
StrPath = Union[str, "os.PathLike[str]"]

CPU_PATH = "/_/cpu"
# cgroup v2 (`usage_usec` in cpu.stat), then v1 (`cpuacct.usage`, in nanoseconds), as a
# container with its own cgroup namespace (or Docker's v1 mounts) sees its own cgroup.
CGROUP_V2_STAT = "/sys/fs/cgroup/cpu.stat"
CGROUP_V1_USAGE = (
    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
)


def _read(path: StrPath) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


def cpu_usage_usec(
    v2_stat: StrPath = CGROUP_V2_STAT, v1_usage: tuple[StrPath, ...] = CGROUP_V1_USAGE
) -> int | None:
    """Microseconds of CPU the cgroup used since it began; None if no figure is readable."""
    try:
        for line in _read(v2_stat).splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isascii() and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    for path in v1_usage:
        try:
            text = _read(path).strip()
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
