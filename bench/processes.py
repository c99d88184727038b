"""Start, watch and stop the servers under test as local processes.

`Server` runs one command in its own session (so its children can be stopped with it),
waits for its health URL, and reads CPU time and peak RSS from /proc. The `start_*`
helpers know how to start each piece of faas (and the echo upstream) on a free port.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import ROOT, free_port, watchdog_settings, watchdog_zipapp

WATCHDOG_SOURCES = ROOT / "watchdog" / "fwatchdog"
GATEWAY_MAIN = ROOT / "gateway" / "__main__.py"
ECHO_SERVER = Path(__file__).resolve().with_name("echo_server.py")
_TICKS = os.sysconf("SC_CLK_TCK")


class StartError(RuntimeError):
    """A server did not come up (exited, or its health URL never answered 200)."""


class NotAvailable(RuntimeError):
    """A piece the scenario needs is not in the tree yet (e.g. the watchdog)."""


def http_status(url: str, timeout: float = 1.0, body: bytes | None = None) -> int | None:
    """GET `url` (POST `body` when given) and return its status, or None if nothing answered."""
    request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


def wait_http_ok(url: str, timeout: float, alive: Server | None = None) -> None:
    """Poll `url` until it answers 200 (at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.proc.poll() is not None:
            raise StartError(f"{alive.name} exited ({alive.proc.returncode}):\n{alive.log_tail()}")
        if http_status(url, timeout=1.0) == 200:
            return
        time.sleep(0.05)
    tail = f":\n{alive.log_tail()}" if alive is not None else ""
    raise StartError(f"{url} did not answer 200 within {timeout:g}s{tail}")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _ticks(pid: int, own: bool = True, reaped: bool = True) -> int:
    """utime+stime (`own`) and cutime+cstime (`reaped`) of one process; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = [int(v) for v in stat[stat.rindex(")") + 2 :].split()[11:15]]  # stat 14-17
    return (fields[0] + fields[1] if own else 0) + (fields[2] + fields[3] if reaped else 0)


def tree_cpu_seconds(pid: int, *, own: bool = True, children: bool = True) -> float:
    """CPU time (user+system) of `pid`, its live descendants and every child they reaped.

    `own=False` leaves out the time of `pid` itself; `children=False` leaves out its
    children, live or reaped: so own-only plus children-only is the whole tree.
    """
    if not children:
        return _ticks(pid, reaped=False) / _TICKS if own else 0.0
    children_of = _children_map()
    total = 0
    todo = [pid]
    seen: set[int] = set()
    while todo and len(seen) < 10_000:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _ticks(current, own=own or current != pid)
        todo.extend(children_of.get(current, []))
    return total / _TICKS


def peak_rss_bytes(pid: int) -> int:
    """VmHWM of `pid` (its peak resident set), in bytes; 0 if it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class Server:
    """A process under test, with its log file and the URL that says it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    health_path: str
    log_path: Path
    children_label: str | None = None
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] = field(init=False)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id of the server (its session leader)."""
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> Server:
        """Start the process and wait until its health URL answers 200."""
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_http_ok(self.base_url + self.health_path, timeout, alive=self)
        except BaseException:
            self.stop()
            raise
        return self

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the server and its processes, by label.

        With `children_label` set, the process's own time is reported under `name` and its
        children's (forked fprocesses, live or reaped; http mode's upstream) under that
        label; otherwise all of it under `name`.
        """
        pid = self.proc.pid
        if self.children_label is None:
            return {self.name: tree_cpu_seconds(pid)}
        return {
            self.name: tree_cpu_seconds(pid, children=False),
            self.children_label: tree_cpu_seconds(pid, own=False),
        }

    def peak_rss(self) -> int:
        """Peak RSS (VmHWM) of the server process itself, in bytes."""
        return peak_rss_bytes(self.proc.pid)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM its process group, then SIGKILL it after 5 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # The group may still hold a child that outlived its parent (e.g. fprocess).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment for a server under test (PATH, HOME, LANG, TMPDIR) plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def workdir() -> Path:
    """A fresh temporary directory for logs and lock files."""
    return Path(tempfile.mkdtemp(prefix="faas-bench-"))


def start_echo(tmp: Path, name: str = "echo upstream") -> Server:
    """The raw asyncio echo server (bench/echo_server.py) on a free port."""
    port = free_port()
    argv = [sys.executable, str(ECHO_SERVER), "--port", str(port)]
    server = Server(name, argv, base_env({}), port, "/", tmp / f"echo-{port}.log")
    return server.start()


def watchdog_env(tmp: Path, port: int, fprocess: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a watchdog (ours or a reference) is started with."""
    # TMPDIR keeps the lock/health file of each instance apart (ours and the Go one's).
    return base_env({**watchdog_settings(fprocess, port, tmp), "TMPDIR": str(tmp), **extra})


def start_watchdog(
    tmp: Path,
    fprocess: str = "cat",
    extra: Mapping[str, str] | None = None,
    executable: str | None = None,
    name: str = "watchdog",
) -> Server:
    """Our watchdog (or `executable`, a reference watchdog) with `fprocess` on a free port."""
    if executable is None and not WATCHDOG_SOURCES.is_dir():
        raise NotAvailable(f"{WATCHDOG_SOURCES.relative_to(ROOT)} does not exist yet")
    port = free_port()
    env = watchdog_env(tmp, port, fprocess, extra or {})
    argv = shlex.split(executable) if executable else [sys.executable, str(watchdog_zipapp())]
    log = tmp / f"{name.replace(' ', '-')}-{port}.log"
    children = "its upstream" if extra and extra.get("mode") == "http" else f"its {fprocess}"
    server = Server(name, argv, env, port, "/_/health", log, children_label=children)
    return server.start()


def start_http_watchdog(tmp: Path) -> tuple[Server, int]:
    """A watchdog in http mode whose fprocess is the echo server; returns it and its port."""
    upstream_port = free_port()
    fprocess = shlex.join([sys.executable, str(ECHO_SERVER), "--port", str(upstream_port)])
    extra = {"mode": "http", "upstream_url": f"http://127.0.0.1:{upstream_port}"}
    server = start_watchdog(tmp, fprocess, extra, name="watchdog http")
    try:
        wait_http_ok(f"http://127.0.0.1:{upstream_port}/", 10.0, alive=server)
    except BaseException:
        server.stop()
        raise
    return server, upstream_port


def gateway_env(
    port: int,
    functions: Mapping[str, str],
    workers: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a local gateway: static provider, `functions` (name to
    host:port), `GATEWAY_WORKERS` when `workers` is given (unset: its default), and any
    `extra_env`."""
    extra = {
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": ",".join(f"{k}={v}" for k, v in functions.items()),
        "GATEWAY_PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_LOG_LEVEL": "warning",
    }
    if workers is not None:
        extra["GATEWAY_WORKERS"] = str(workers)
    extra.update(extra_env or {})
    return base_env(extra)


def start_gateway(
    tmp: Path,
    functions: Mapping[str, str],
    name: str = "gateway",
    workers: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    module: str = "gateway",
    root: Path = ROOT,
) -> Server:
    """The gateway with the static provider: `functions` maps names to host:port.

    `workers` sets GATEWAY_WORKERS (worker processes under one supervisor); None leaves
    the gateway's default. A gateway that does not know the variable ignores it.
    `module`: what `python -m` runs (`bench.versioned_gateway`: with versions).
    `root`: the source tree it runs from (another revision's, `bench.compare_trees`).
    """
    if not (root / "gateway" / "__main__.py").exists():
        raise NotAvailable(f"{GATEWAY_MAIN.relative_to(ROOT)} does not exist in {root}")
    port = free_port()
    env = gateway_env(port, functions, workers, extra_env)
    argv = [sys.executable, "-m", module]
    log = tmp / f"gateway-{port}.log"
    server = Server(name, argv, env, port, "/healthz", log, cwd=root)
    return server.start()


# TCP states in /proc/net/tcp (include/net/tcp_states.h).
TCP_ESTABLISHED = "01"
TCP_LISTEN = "0A"


def tcp_socket_inodes(proc_net_tcp: str, local_port: int, state: str) -> set[int]:
    """Inodes of the sockets in a /proc/net/tcp(6) text whose local port is `local_port`
    and whose state is `state` (`TCP_LISTEN`, `TCP_ESTABLISHED`)."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != state:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        if port == local_port:
            inodes.add(int(fields[9]))
    return inodes


def _tcp_inodes(pid: int, local_port: int, state: str) -> set[int]:
    inodes: set[int] = set()
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{pid}/net/{name}").read_text()
            inodes |= tcp_socket_inodes(text, local_port, state)
    return inodes


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets `pid` holds open (empty when it is gone or not ours)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    found.add(int(target[len("socket:[") : -1]))
    return found


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid`, sorted."""
    return sorted(_children_map().get(pid, []))


def listening_children(pid: int, port: int) -> list[int]:
    """The children of `pid` that hold a socket listening on `port`: the gateway's worker
    processes under its supervisor (with a pre-forked socket or SO_REUSEPORT alike; a
    helper such as multiprocessing's resource tracker holds none)."""
    listening = _tcp_inodes(pid, port, TCP_LISTEN)
    return [child for child in child_pids(pid) if socket_inodes(child) & listening]


def connections_held(pid: int, port: int) -> int:
    """How many established connections to local `port` process `pid` holds (the
    clients' connections a gateway worker serves)."""
    return len(socket_inodes(pid) & _tcp_inodes(pid, port, TCP_ESTABLISHED))


def start_nats(tmp: Path) -> tuple[Server, int]:
    """`nats-server` with JetStream (file storage in `tmp`) on free ports, as the async
    tests start it; returns it (its `port` is the monitoring port, which answers
    /healthz once JetStream is up) and the client port."""
    binary = shutil.which("nats-server")
    if binary is None:
        raise NotAvailable("nats-server is not installed (scripts/nats.sh installs it)")
    client_port, monitor_port = free_port(), free_port()
    store = tmp / f"jetstream-{client_port}"
    argv = [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(client_port)]
    argv += ["-m", str(monitor_port)]
    log = tmp / f"nats-{client_port}.log"
    server = Server("nats", argv, base_env({}), monitor_port, "/healthz", log)
    return server.start(), client_port


def start_queue_worker(tmp: Path, gateway_env: Mapping[str, str], name: str = "worker") -> Server:
    """The async queue worker (`python -m gateway.async_calls`) with a gateway's
    environment (`gateway_env`: provider, functions, `GATEWAY_NATS_URL`) on a free port
    of its own; ready once it has a broker connection (its /healthz answers 200)."""
    port = free_port()
    env = {**gateway_env, "GATEWAY_ASYNC_WORKER_PORT": str(port)}
    argv = [sys.executable, "-m", "gateway.async_calls"]
    server = Server(name, argv, env, port, "/healthz", tmp / f"queue-worker-{port}.log")
    return server.start()
