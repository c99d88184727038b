"""Every sample function of the stack, called through the gateway."""

from __future__ import annotations

import base64
import json
import os
import time

import httpx


def test_catservice_echoes(client: httpx.Client) -> None:
    reply = client.post("/function/catservice", content=b"meow\n")
    assert reply.status_code == 200
    assert reply.content == b"meow\n"
    assert reply.headers["x-call-id"]


def test_a_call_answers_with_openfaas_headers(client: httpx.Client) -> None:
    """X-Call-Id, X-Start-Time (Unix ns, when the gateway took the call) and
    X-Duration-Seconds, as the OpenFaaS gateway sends them."""
    before = time.time_ns()
    response = client.post("/function/catservice", content=b"timed")
    assert response.status_code == 200
    assert len(response.headers["x-call-id"]) == 36
    assert before <= int(response.headers["x-start-time"]) <= time.time_ns()
    assert float(response.headers["x-duration-seconds"]) >= 0


def test_wordcount_counts(client: httpx.Client) -> None:
    reply = client.post("/function/wordcount", content=b"one two three\nfour\n")
    assert reply.status_code == 200
    assert reply.text.split() == ["2", "4", "19"]


def test_base64_encodes(client: httpx.Client) -> None:
    payload = os.urandom(1000)
    reply = client.post("/function/base64", content=payload)
    assert reply.status_code == 200
    assert base64.b64decode(reply.content) == payload


def test_csvtojson_converts(client: httpx.Client) -> None:
    reply = client.post("/function/csvtojson", content=b"name,lang\nada,python\nrob,go\n")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == [{"name": "ada", "lang": "python"}, {"name": "rob", "lang": "go"}]


def test_csvtojson_rejects_malformed_input_with_500(client: httpx.Client) -> None:
    reply = client.post("/function/csvtojson", content=b"a,b\n1,2,3\n")
    assert reply.status_code == 500
    assert "wrong number of fields" in reply.text


def test_httpecho_stays_warm_between_requests(client: httpx.Client) -> None:
    first = client.post("/function/httpecho/some/path?x=1", content=b"abc").json()
    second = client.post("/function/httpecho", content=b"").json()
    assert first["path"] == "/some/path"
    assert first["query"] == {"x": ["1"]}
    assert first["body_bytes"] == 3
    assert second["requests_served"] > first["requests_served"]


def test_hostnameintent_answers_as_alexa(client: httpx.Client) -> None:
    request = {
        "version": "1.0",
        "request": {"type": "IntentRequest", "intent": {"name": "HostnameIntent"}},
    }
    reply = client.post("/function/hostnameintent", content=json.dumps(request))
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["shouldEndSession"] is True
    # The intent's answer, not the reply to a body it could not read.
    assert response["outputSpeech"]["text"].startswith("My hostname is ")
    assert response["card"]["content"] == response["outputSpeech"]["text"]
