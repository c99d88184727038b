"""Alexa request detection, the intent-to-function name mapping and the gateway's replies."""

from __future__ import annotations

import json

import pytest

from gateway.errors import BadRequest
from gateway.routing import alexa
from gateway.routing.alexa import AlexaRequest


@pytest.mark.parametrize(
    ("method", "content_type", "length", "expected"),
    [
        ("POST", b"application/json", 100, True),
        ("POST", b"Application/JSON; charset=utf-8", 100, True),
        ("POST", b"application/vnd.alexa+json", 100, True),
        ("GET", b"application/json", 100, False),
        ("POST", b"text/plain", 100, False),
        ("POST", b"application/json", None, False),
        ("POST", b"application/json", 100_000, False),
    ],
)
def test_is_candidate(method: str, content_type: bytes, length: int | None, expected: bool) -> None:
    assert alexa.is_candidate(method, content_type, length, limit=65536) is expected


def test_parse_intent_request() -> None:
    body = {"version": "1.0", "request": {"type": "IntentRequest", "intent": {"name": "Cat"}}}
    assert alexa.parse_alexa_request(json.dumps(body).encode()) == AlexaRequest(
        "IntentRequest", "Cat"
    )


@pytest.mark.parametrize("request_type", ["LaunchRequest", "SessionEndedRequest"])
def test_parse_other_request_types(request_type: str) -> None:
    body = json.dumps({"request": {"type": request_type}}).encode()
    assert alexa.parse_alexa_request(body) == AlexaRequest(request_type)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"request": 1}', b'{"request": {"type": 3}}', b"{}", b"\xff"],
)
def test_not_alexa(body: bytes) -> None:
    assert alexa.parse_alexa_request(body) is None


def test_intent_without_name_is_bad_request() -> None:
    body = json.dumps({"request": {"type": "IntentRequest", "intent": {}}}).encode()
    with pytest.raises(BadRequest, match=r"request\.intent\.name"):
        alexa.parse_alexa_request(body)


@pytest.mark.parametrize(
    ("intent", "names"),
    [
        ("cat", ["cat"]),
        ("Cat", ["Cat", "cat"]),
        ("HelloWorld", ["HelloWorld", "helloworld"]),
        ("Hello_World", ["Hello_World", "hello_world", "hello-world"]),
        ("hello_world", ["hello_world", "hello-world"]),
    ],
)
def test_candidate_function_names(intent: str, names: list[str]) -> None:
    assert alexa.candidate_function_names(intent) == names


def test_launch_reply_speaks() -> None:
    reply = json.loads(alexa.reply_without_function(AlexaRequest("LaunchRequest")))
    assert reply["version"] == "1.0"
    assert reply["response"]["outputSpeech"]["text"] == alexa.LAUNCH_SPEECH


def test_session_ended_reply_is_empty() -> None:
    reply = json.loads(alexa.reply_without_function(AlexaRequest("SessionEndedRequest")))
    assert reply == {"version": "1.0", "response": {}}


@pytest.mark.parametrize("body", [b"[" * 60_000, b"[" * 60_000 + b"]" * 60_000])
def test_json_nested_too_deeply_is_not_an_alexa_request(body: bytes) -> None:
    assert alexa.parse_alexa_request(body) is None
