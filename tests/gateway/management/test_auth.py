"""Basic auth: header parsing, constant-time matching, and credentials from the config."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.config import BasicAuthCredentials, ConfigError, load_config
from gateway.management.auth import (
    credentials_match,
    parse_basic_authorization,
)

CREDENTIALS = BasicAuthCredentials("admin", "s3cret:with:colons")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_basic_authorization() -> None:
    assert parse_basic_authorization(basic("a", "b:c")) == ("a", "b:c")
    assert parse_basic_authorization("basic " + base64.b64encode(b"a:").decode()) == ("a", "")
    for header in (None, "", "Bearer x", "Basic", "Basic !!!", "Basic " + "eA==",
                   "Basic " + base64.b64encode(b"\xff:\xfe").decode()):  # fmt: skip
        assert parse_basic_authorization(header) is None


def test_only_the_exact_credentials_match() -> None:
    assert credentials_match(basic("admin", "s3cret:with:colons"), CREDENTIALS)
    wrong = (
        None, basic("admin", "s3cret"), basic("Admin", "s3cret:with:colons"),
        basic("", ""), basic("admin", "s3cret:with:colons "), "Basic garbage",
    )  # fmt: skip
    for header in wrong:
        assert not credentials_match(header, CREDENTIALS)


def test_password_never_in_repr() -> None:
    assert "s3cret" not in repr(CREDENTIALS)
    assert "s3cret" not in repr(
        load_config({"GATEWAY_BASIC_AUTH_USER": "u", "GATEWAY_BASIC_AUTH_PASSWORD": "s3cret"})
    )


def test_no_credentials_configured() -> None:
    assert load_config({}).basic_auth is None


def test_credentials_from_env() -> None:
    config = load_config({"GATEWAY_BASIC_AUTH_USER": "u", "GATEWAY_BASIC_AUTH_PASSWORD": "p"})
    assert config.basic_auth == BasicAuthCredentials("u", "p")


def test_credentials_from_secret_files_win(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("admin\n")
    (tmp_path / "password").write_text("from-file\n")
    config = load_config(
        {
            "GATEWAY_BASIC_AUTH_USER_FILE": str(tmp_path / "user"),
            "GATEWAY_BASIC_AUTH_PASSWORD_FILE": str(tmp_path / "password"),
            "GATEWAY_BASIC_AUTH_PASSWORD": "from-env",
        }
    )
    assert config.basic_auth == BasicAuthCredentials("admin", "from-file")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GATEWAY_BASIC_AUTH_USER": "u"}, "GATEWAY_BASIC_AUTH_PASSWORD"),
        ({"GATEWAY_BASIC_AUTH_PASSWORD": "p"}, "GATEWAY_BASIC_AUTH_USER"),
        ({"GATEWAY_BASIC_AUTH_USER_FILE": "/nonexistent/user",
          "GATEWAY_BASIC_AUTH_PASSWORD": "p"}, "GATEWAY_BASIC_AUTH_USER_FILE"),
        ({"GATEWAY_BASIC_AUTH_USER": "a:b", "GATEWAY_BASIC_AUTH_PASSWORD": "p"},
         "GATEWAY_BASIC_AUTH_USER"),
        ({"GATEWAY_IMAGE_ALLOWLIST": "faas/, bad prefix"}, "GATEWAY_IMAGE_ALLOWLIST"),
        ({"GATEWAY_INVOKE_AUTH": "maybe"}, "GATEWAY_INVOKE_AUTH"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}:"):
        load_config(env)


def test_image_allowlist() -> None:
    config = load_config({"GATEWAY_IMAGE_ALLOWLIST": "faas/, registry:5000/team/,"})
    assert config.image_allowlist == ("faas/", "registry:5000/team/")
