"""The fork floor: how fast this machine can spawn `cat` with a 100-byte stdin at all.

The truest floor is a C loop of fork + exec + pipe + waitpid (compiled with `cc` at bench
time when a compiler exists); a Python `subprocess.run` loop is measured too. Both time
each spawn, so the result has a per-spawn p50 to compare the watchdog's c=1 latency with.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

C_SOURCE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define CAP 2000000
static double lat[CAP];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double duration = argc > 1 ? atof(argv[1]) : 2.0;
    char body[100], buf[4096];
    memset(body, 'x', sizeof body);
    long n = 0, bad = 0;
    double start = now(), end = start + duration, t;
    while ((t = now()) < end && n < CAP) {
        int in[2], out[2];
        if (pipe(in) || pipe(out)) { perror("pipe"); return 1; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            dup2(in[0], 0); dup2(out[1], 1);
            close(in[0]); close(in[1]); close(out[0]); close(out[1]);
            execlp("cat", "cat", (char *)NULL);
            _exit(127);
        }
        close(in[0]); close(out[1]);
        if (write(in[1], body, sizeof body) != sizeof body) bad++;
        close(in[1]);
        long got = 0; ssize_t r;
        while ((r = read(out[0], buf, sizeof buf)) > 0) got += r;
        close(out[0]);
        int status;
        waitpid(pid, &status, 0);
        if (got != sizeof body || status != 0) bad++;
        lat[n++] = now() - t;
    }
    double elapsed = now() - start;
    qsort(lat, n, sizeof lat[0], cmp);
    printf("{\"spawns\": %ld, \"elapsed_s\": %.6f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
           "\"bad\": %ld}\n", n, elapsed, n ? lat[n / 2] * 1e3 : 0.0,
           n ? lat[(long)(n * 0.99)] * 1e3 : 0.0, bad);
    return 0;
}
"""

BODY = b"x" * 100


@dataclass(frozen=True)
class FloorResult:
    """Spawns per second (summed over parallel spawners) and per-spawn latency (ms)."""

    rps: float
    p50_ms: float
    p99_ms: float
    spawns: int
    spawners: int
    bad: int


def compile_c_floor(tmp: Path) -> Path | None:
    """Compile the C floor into `tmp`; None when there is no C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    source = tmp / "forkfloor.c"
    binary = tmp / "forkfloor"
    source.write_text(C_SOURCE)
    subprocess.run([cc, "-O2", "-o", str(binary), str(source)], check=True, timeout=120)
    return binary


def run_c_floor(binary: Path, duration_s: float, spawners: int = 1) -> FloorResult:
    """Run `spawners` copies of the C loop side by side for `duration_s` seconds."""
    procs = [
        subprocess.Popen([str(binary), f"{duration_s:g}"], stdout=subprocess.PIPE, text=True)
        for _ in range(spawners)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=duration_s + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"fork floor exited {proc.returncode}")
        results.append(json.loads(out))
    return FloorResult(
        rps=sum(r["spawns"] / r["elapsed_s"] for r in results),
        p50_ms=statistics.median(r["p50_ms"] for r in results),
        p99_ms=max(r["p99_ms"] for r in results),
        spawns=sum(r["spawns"] for r in results),
        spawners=spawners,
        bad=sum(r["bad"] for r in results),
    )


def run_python_floor(duration_s: float, max_spawns: int = 200_000) -> FloorResult:
    """`subprocess.run(["cat"], input=100 bytes)` in a loop in this process."""
    latencies: list[float] = []
    bad = 0
    start = time.perf_counter()
    end = start + duration_s
    while len(latencies) < max_spawns:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        done = subprocess.run(["cat"], input=BODY, capture_output=True, check=False, timeout=10)
        if done.stdout != BODY or done.returncode != 0:
            bad += 1
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return FloorResult(
        rps=n / elapsed if elapsed > 0 else 0.0,
        p50_ms=latencies[n // 2] * 1e3 if n else 0.0,
        p99_ms=latencies[int(n * 0.99)] * 1e3 if n else 0.0,
        spawns=n,
        spawners=1,
        bad=bad,
    )
