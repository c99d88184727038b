"""The CLI sends the user's password only to a gateway the user named (issue 15, item 12)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas_cli.__main__ import main
from faas_cli.errors import EXIT_USAGE

UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class RecordingServer:
    """A socket that records the first request each connection sends, and answers 401."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                self.requests.append(request)
                connection.sendall(UNAUTHORIZED)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def stranger() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def definition_file(tmp_path: Path, stranger: RecordingServer) -> Path:
    path = tmp_path / "stack.yml"
    path.write_text(f"gateway: {stranger.url}\nfunctions:\n  hello:\n    image: faas/hello:1\n")
    return path


def test_a_definition_files_gateway_gets_no_password_unless_named(
    definition_file: Path,
    stranger: RecordingServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FAAS_GATEWAY", raising=False)
    monkeypatch.setenv("FAAS_PASSWORD", "top-secret")
    assert main(["deploy", "-f", str(definition_file)]) == EXIT_USAGE
    assert stranger.requests == []
    assert f"pass --gateway {stranger.url}" in capsys.readouterr().err


def test_a_named_gateway_gets_the_password(
    definition_file: Path, stranger: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAAS_PASSWORD", "top-secret")
    main(["deploy", "-f", str(definition_file), "--gateway", stranger.url])
    assert stranger.requests
    assert b"authorization: basic" in stranger.requests[0].lower()


def test_a_definition_files_gateway_is_used_without_credentials(
    definition_file: Path, stranger: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FAAS_GATEWAY", "FAAS_PASSWORD", "FAAS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    main(["deploy", "-f", str(definition_file)])
    assert stranger.requests
    assert b"authorization" not in stranger.requests[0].lower()
