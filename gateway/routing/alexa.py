"""Routing rule 4: an Alexa skill request names its function by intent.

Only requests that no other rule routed are looked at, and only when they are a POST with
a JSON content type and a known, small Content-Length, so no other body is ever read.

An `IntentRequest` goes to the function the intent names, trying in order:
the exact intent name, then it lower-cased, then lower-cased with `_` turned into `-`
(`HelloWorld` -> `helloworld`; `hello_world` -> `hello-world`). Alexa intent names cannot
contain `-`, which function names often do; hence the last step.

`LaunchRequest`, `SessionEndedRequest` and other non-intent requests are answered by the
gateway with a valid Alexa response (HTTP 200), since Alexa treats any other status as a
broken skill. An intent no function matches is a 404 naming it, like any unknown function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest

INTENT_REQUEST = "IntentRequest"
LAUNCH_REQUEST = "LaunchRequest"
LAUNCH_SPEECH = "This skill runs functions. Ask for a function by its name."


@dataclass(frozen=True)
class AlexaRequest:
    """The parts of an Alexa skill request the gateway routes on."""

    request_type: str
    intent_name: str | None = None


def is_candidate(method: str, content_type: bytes, content_length: int | None, limit: int) -> bool:
    """Whether a request is worth reading as a possible Alexa request."""
    if method != "POST" or content_length is None or content_length > limit:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


def parse_alexa_request(body: bytes) -> AlexaRequest | None:
    """The Alexa request in `body`, or None if it is not shaped like one.

    Alexa-shaped means a JSON object whose `request` is an object with a string `type`.
    JSON nested deeper than Python's decoder can follow (RecursionError) is not Alexa's
    shallow envelope: None, like any other body that is not JSON.
    """
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    request = document.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        return None
    request_type: str = request["type"]
    if request_type != INTENT_REQUEST:
        return AlexaRequest(request_type)
    intent = request.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Alexa IntentRequest without request.intent.name")
    return AlexaRequest(request_type, name.strip())


def candidate_function_names(intent_name: str) -> list[str]:
    """Function names an intent maps to, in the order they are tried (no duplicates)."""
    lower = intent_name.lower()
    return list(dict.fromkeys((intent_name, lower, lower.replace("_", "-"))))


def reply_without_function(request: AlexaRequest) -> bytes:
    """The gateway's own Alexa response to a request that names no function."""
    response: dict[str, Any] = {}
    if request.request_type == LAUNCH_REQUEST:
        response = {
            "outputSpeech": {"type": "PlainText", "text": LAUNCH_SPEECH},
            "shouldEndSession": True,
        }
    return json.dumps({"version": "1.0", "response": response}).encode()
