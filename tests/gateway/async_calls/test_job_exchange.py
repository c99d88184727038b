"""The job endpoints on the queue worker's monitoring port (`JobExchange`): the token is
checked, good for one input and one result, and a result over the bound is refused."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from gateway.async_calls.job_exchange import JobExchange, JobResult
from gateway.async_calls.monitoring import MonitoringServer
from tests.support import free_port


def test_the_token_is_checked_and_good_for_one_input_and_one_result() -> None:
    async def scenario() -> tuple[list[int], JobResult]:
        exchange = JobExchange(max_output=10)
        port = free_port()
        server = MonitoringServer(port, CollectorRegistry(), lambda: None, exchange)
        server.start()
        opened = exchange.open("call-1", b"the body")
        url = f"http://127.0.0.1:{port}/jobs/call-1"
        good, bad = {"X-Job-Token": opened.token}, {"X-Job-Token": opened.token[:-1] + "x"}
        try:
            async with httpx.AsyncClient() as client:
                statuses = [(await client.get(f"{url}/input", headers=bad)).status_code]
                first = await client.get(f"{url}/input", headers=good)
                assert first.content == b"the body"
                statuses.append(first.status_code)
                statuses.append((await client.get(f"{url}/input", headers=good)).status_code)
                result_headers = {**good, "X-Exit-Code": "0", "X-Duration-Seconds": "0.5"}
                too_big = await client.post(f"{url}/result", headers=result_headers,
                                            content=b"x" * 11)  # fmt: skip
                statuses.append(too_big.status_code)
                posted = await client.post(f"{url}/result", headers=result_headers,
                                           content=b"out")  # fmt: skip
                statuses.append(posted.status_code)
                again = await client.post(f"{url}/result", headers=result_headers,
                                          content=b"out")  # fmt: skip
                statuses.append(again.status_code)
            result = await asyncio.wait_for(opened.result, 5)
        finally:
            server.close()
        assert opened.started_at is not None
        return statuses, result

    statuses, result = asyncio.run(scenario())
    assert statuses == [403, 200, 409, 413, 204, 403]
    assert (result.exit_code, result.body, result.duration, result.outcome) == (
        0,
        b"out",
        0.5,
        "ok",
    )
