"""Drive HTTP load with `wrk` (installed from Debian's packages when absent).

`run_wrk` runs one bounded load and returns throughput and latency percentiles, read
from a JSON line that a small Lua `done()` hook prints. A command prefix runs it
elsewhere, e.g. `nsenter --target <pid> --net --` inside a container's network namespace.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

_MARK = "BENCHJSON "

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"max_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class WrkError(RuntimeError):
    """wrk is missing and cannot be installed, or a run produced no result."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; `errors` counts socket errors and non-2xx."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    non_2xx: int
    client_cpu_s: float


def ensure_wrk() -> str:
    """Return the path of `wrk`, installing Debian's package first if it is absent."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise WrkError(
            "wrk is not installed and cannot be installed here (needs root and apt-get): "
            "install Debian's 'wrk' package, then run the benchmarks again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", "wrk"]
    print(f"bench: wrk not found; installing it: {' '.join(install)}", flush=True)
    if subprocess.run(install, env=env, check=False, timeout=600).returncode != 0:
        print("bench: install failed; running apt-get update first, then again", flush=True)
        subprocess.run([apt, "update"], env=env, check=True, timeout=600)
        subprocess.run(install, env=env, check=True, timeout=600)
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("apt-get install wrk succeeded but wrk is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    """The first line wrk prints about itself (it has no --version exit code of 0)."""
    proc = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False, timeout=10)
    return (proc.stdout + proc.stderr).splitlines()[0].strip() if proc.stdout or proc.stderr else ""


def _script(body: bytes | None, method: str, paths: list[str] | None) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        # The body is printable ASCII by construction (see scenarios); %q-quote anyway.
        lines.append(f"wrk.body = {_lua_string(body)}")
        lines.append('wrk.headers["Content-Type"] = "application/octet-stream"')
    if paths:
        quoted = ", ".join(_lua_string(p.encode()) for p in paths)
        lines.append(f"local paths = {{{quoted}}}")
        lines.append("local n = 0")
        lines.append("request = function()")
        lines.append("  n = n + 1")
        lines.append("  return wrk.format(nil, paths[(n % #paths) + 1])")
        lines.append("end")
    return "\n".join(lines) + "\n" + _DONE_HOOK


def _lua_string(raw: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in raw) + '"'


def run_wrk(
    wrk: str,
    url: str,
    *,
    concurrency: int,
    duration_s: float,
    body: bytes | None = None,
    method: str = "POST",
    paths: list[str] | None = None,
    timeout_s: float = 5.0,
    prefix: Sequence[str] = (),
) -> WrkResult:
    """Run wrk against `url` for `duration_s` seconds with `concurrency` connections.

    `paths`, when given, are requested round-robin (each one a path on `url`'s host).
    `prefix` is put before the wrk command line (a command that execs it, such as
    `nsenter ... --`); the client CPU is still wrk's, as long as the prefix execs it.
    """
    threads = max(1, min(concurrency, os.cpu_count() or 1))
    seconds = max(1, round(duration_s))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as script:
        script.write(_script(body, method, paths))
        script.flush()
        argv = [
            *prefix,
            wrk,
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            script.name,
            url,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=seconds + timeout_s + 30
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise WrkError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    data = json.loads(line[len(_MARK) :])
    duration = data["duration_us"] / 1e6
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkResult(
        requests=data["requests"],
        duration_s=duration,
        rps=data["requests"] / duration if duration > 0 else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=socket_errors + data["status"],
        non_2xx=data["status"],
        client_cpu_s=cpu,
    )
