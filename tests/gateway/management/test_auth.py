"""Basic auth: header parsing, constant-time matching, and credentials from the config."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.config import BasicAuthCredentials, ConfigError, load_config
from gateway.management.auth import (
    credentials_match,
    may_carry_credentials,
    parse_basic_authorization,
    without_authorization,
    without_credentials,
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


def test_what_may_carry_the_gateways_credentials() -> None:
    # Every spelling is covered end to end in tests/gateway/proxy/test_edge.py.
    ours = basic("admin", "s3cret:with:colons").encode()
    assert may_carry_credentials(ours, CREDENTIALS)
    assert may_carry_credentials(ours.replace(b"Basic ", b"bASIC\t"), CREDENTIALS)
    assert may_carry_credentials(basic("admin", "nope").encode(), CREDENTIALS)
    assert may_carry_credentials(b"Basic %%%", CREDENTIALS)
    assert not may_carry_credentials(basic("alice", "pw").encode(), CREDENTIALS)
    assert not may_carry_credentials(b"Bearer " + ours, CREDENTIALS)


def test_header_filters_copy_only_when_there_is_an_authorization() -> None:
    plain = [(b"host", b"x")]
    assert without_credentials(plain, CREDENTIALS) is plain
    assert without_authorization(plain) is plain
    headers = [*plain, (b"authorization", b"Bearer t")]
    assert without_credentials(headers, CREDENTIALS) == headers
    assert without_authorization(headers) == plain


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
