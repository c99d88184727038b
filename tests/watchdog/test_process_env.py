"""fwatchdog.runners.process: how request headers become fprocess's environment."""

from __future__ import annotations

from fwatchdog.runners.process import env_name


def test_env_names() -> None:
    assert env_name("x-call-id") == "Http_X_Call_Id"
    assert env_name("Content-Type") == "Http_Content_Type"
    assert env_name("ACCEPT") == "Http_Accept"
