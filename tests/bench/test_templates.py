"""bench/templates.py's floor (each template's handler with nothing in front) and its
table row; the gateway side needs the swarm and runs with the bench."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from bench.templates import BODY, LANGUAGES, plain, row
from bench.wrk import WrkResult


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_floor_answers_as_the_function_does(tmp_path: Path, language: str) -> None:
    runtime = {"node": "node", "bash-streaming": "bash"}.get(language, "python3")
    if shutil.which(runtime) is None:
        pytest.skip(f"{runtime} is not installed")
    with plain(language, tmp_path) as url:
        reply = httpx.post(url, content=BODY, timeout=20)
    assert reply.text == f"Hello from {language}! You said: ping"


def result(rps: float, errors: int = 0) -> WrkResult:
    return WrkResult(requests=int(rps), duration_s=1.0, rps=rps, p50_ms=1.5, p90_ms=2.0,
                     p99_ms=3.0, mean_ms=1.6, max_ms=4.0, errors=errors, non_2xx=0,
                     client_cpu_s=0.1)  # fmt: skip


def test_a_row_gives_each_rate_its_share_of_the_floor() -> None:
    line = row("node", [result(500), result(2000, errors=1)], [result(1000), result(4000)])
    assert line == "| node | 500 | 1.50 | 1,000 | 50% | 2,000 | 1.50 | 4,000 | 50% | 1 |"
