"""The async calls' fixtures: a fresh nats-server per test."""

from __future__ import annotations

from tests.gateway.async_calls.conftest import nats_server

__all__ = ["nats_server"]
