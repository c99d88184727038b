"""`faas trigger list|fire` and a function's triggers in `faas describe`, against a live
gateway with async calls on a real nats-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas_cli.__main__ import main
from gateway.providers.base import Function
from gateway.providers.static import StaticProvider
from tests.gateway.async_calls.conftest import CREDENTIALS, broker_answers, nats_server
from tests.gateway.async_calls.harness import async_config
from tests.gateway.harness import BackgroundProcess, GatewayThread
from tests.support import wait_for

__all__ = ["nats_server"]

TICK = Function(
    "tick",
    "faas/tick",
    1,
    "127.0.0.1:9",
    labels={
        "com.faas.annotation.topic": "cron-function",
        "com.faas.annotation.schedule": "0 3 * * *",
    },
)


@pytest.fixture
def gateway(
    nats_server: BackgroundProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GatewayThread]:
    password_file = tmp_path / "password"
    password_file.write_text(CREDENTIALS.password)
    config = async_config(nats_server.port)
    with GatewayThread(
        StaticProvider([TICK]), async_calls=config, basic_auth=CREDENTIALS
    ) as running:
        wait_for(lambda: broker_answers(running), "the gateway's broker connection", timeout=30)
        monkeypatch.setenv("FAAS_GATEWAY", running.url)
        monkeypatch.setenv("FAAS_USER", CREDENTIALS.user)
        monkeypatch.setenv("FAAS_PASSWORD_FILE", str(password_file))
        monkeypatch.delenv("FAAS_PASSWORD", raising=False)
        yield running


def test_list_describe_and_fire(gateway: GatewayThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trigger", "list"]) == 0
    listed = capsys.readouterr().out
    assert "tick" in listed
    assert "0 3 * * *" in listed
    assert "T03:00:00Z" in listed
    assert main(["describe", "tick"]) == 0
    described = capsys.readouterr().out
    assert "Triggers:" in described
    assert "cron: schedule 0 3 * * * UTC next" in described
    assert main(["trigger", "fire", "tick"]) == 0
    call_id = capsys.readouterr().out.strip()
    assert uuid.UUID(call_id)
    assert main(["async", "status", call_id]) == 0
    assert "queued" in capsys.readouterr().out
    assert main(["trigger", "fire", "tick", "nope"]) == 1
    assert "no trigger 'nope'" in capsys.readouterr().err
    assert main(["trigger", "fire"]) == 2
