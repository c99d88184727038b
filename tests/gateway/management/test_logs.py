"""Log queries, Docker's log line format, and following new lines without repeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from gateway.errors import BadRequest
from gateway.management.logs import (
    MAX_SINCE_AHEAD,
    MAX_TAIL,
    TASK_ID_LENGTH,
    LogQuery,
    follow,
    newest,
    parse_log_query,
    since_parameter,
    since_seconds,
)
from gateway.providers.base import Function, LogLine, engine_time
from gateway.providers.swarm.logs import parse_engine_logs
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider

DETAILS = (
    "com.docker.swarm.node.id=kl5xjab8i0m8awb1ai29t5qps,"
    "com.docker.swarm.service.id=maw7zt458y1zx9y0zm40kvtfw,"
    "com.docker.swarm.task.id=zb8k06w2m3mbikb7xp272g44k"
)


def test_query_defaults() -> None:
    assert parse_log_query({}) == LogQuery(tail=MAX_TAIL, since=None, follow=False)


def test_query_values() -> None:
    query = parse_log_query({"tail": "5", "since": "2026-11-25T11:32:24Z", "follow": "true"})
    assert query == LogQuery(tail=5, since=1795606344.0, follow=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # What faas-cli 0.18 sends: `logs fn` (follow, every line), `--tail=false --since`.
        ({"name": "fn", "follow": "true", "tail": "-1"}, LogQuery(tail=MAX_TAIL, follow=True)),
        (
            {"name": "fn", "namespace": "openfaas-fn", "follow": "false",
             "since": "2026-11-25T12:32:24+01:00", "tail": "-1"},
            LogQuery(tail=MAX_TAIL, since=1795606344.0),
        ),
        ({"tail": "-5"}, LogQuery(tail=MAX_TAIL)),
        ({"tail": "10000", "instance": "zb8k06w2m3mb"}, LogQuery(10000, instance="zb8k06w2m3mb")),
    ],
)  # fmt: skip
def test_faas_cli_queries(params: dict[str, str], expected: LogQuery) -> None:
    assert parse_log_query(params) == expected


def test_a_tail_too_large_is_still_refused_saying_what_is_allowed() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_log_query({"tail": "10001"})
    assert raised.value.message == (
        "tail: expected a whole number from 1 to 10000, or -1 for the newest 10000"
    )


def test_instance_keeps_one_replica_s_lines() -> None:
    lines = [
        LogLine("fn", "zb8k06w2m3mb", "2026-11-25T11:32:24Z", "one"),
        LogLine("fn", "aaaaaaaaaaaa", "2026-11-25T11:32:25Z", "other"),
        LogLine("fn", "", "2026-11-25T11:32:26Z", "no task"),
    ]
    for instance in ("zb8k06w2m3mb", "zb8k06w2m3mbikb7xp272g44k", "zb8k"):
        assert [line.text for line in LogQuery(instance=instance).select(lines)] == ["one"]
    assert LogQuery().select(lines) == lines
    assert newest(lines, None) == lines


def test_a_line_names_its_namespace_when_asked() -> None:
    line = LogLine("fn", "task", "2026-11-25T11:32:24Z", "text")
    assert json.loads(line.ndjson("openfaas-fn")) == {
        "name": "fn", "namespace": "openfaas-fn", "instance": "task",
        "timestamp": "2026-11-25T11:32:24Z", "text": "text",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"tail": "0"}, "tail"),
        ({"tail": "-"}, "tail"),
        ({"tail": "--1"}, "tail"),
        ({"tail": "lots"}, "tail"),
        ({"tail": "10001"}, "tail"),
        ({"tail": "²"}, "tail"),
        ({"tail": "9" * 5000}, "tail"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-25T11:32:24"}, "since"),  # no zone: ambiguous
        ({"follow": "maybe"}, "follow"),
        # Refused by the engine in its own words before: our bound, in ours.
        ({"since": "9999-12-31T23:59:59-14:00"}, "since"),
        ({"since": "3000-01-01T00:00:00Z"}, "since"),
        ({"instance": "z" * (TASK_ID_LENGTH + 1)}, "instance"),
        ({"instance": "zb8k/../x"}, "instance"),
        ({"instance": "zb8k\u00e9"}, "instance"),
    ],
)
def test_bad_query_names_the_parameter(params: dict[str, str], named: str) -> None:
    with pytest.raises(BadRequest, match=f"^{named}:"):
        parse_log_query(params)


def test_since_may_be_ahead_of_the_gateway_s_clock_by_a_little_only() -> None:
    now = 1795606344.0  # 2026-11-25T11:32:24Z
    ahead = parse_log_query({"since": "2026-11-25T11:37:24Z"}, now=now)
    assert ahead.since == now + MAX_SINCE_AHEAD
    with pytest.raises(BadRequest) as raised:
        parse_log_query({"since": "2026-11-25T11:37:25Z"}, now=now)
    assert raised.value.message == (
        f"since: expected a time before now (at most {MAX_SINCE_AHEAD:g} s ahead of the "
        "gateway's clock)"
    )
    assert parse_log_query({"since": "1970-01-01T00:00:00Z"}, now=now).since == 0.0


def test_instance_is_a_task_id_or_its_start() -> None:
    for instance in ("zb8k06w2m3mbikb7xp272g44k", "zb8k06w2m3mb", "z", "TASK1"):
        assert parse_log_query({"instance": instance}).instance == instance


def test_a_bad_since_over_http_is_a_400_in_our_words() -> None:
    provider = MemoryProvider([Function("fn", "faas/fn:1", 1, "tasks.fn")])
    reply = call(provider, "GET", "/logs", params={"name": "fn", "since": "9999-12-31T23:59:59Z"})
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("since: expected a time before now")
    assert provider.log_reads == []


def test_engine_lines_are_split_into_time_instance_and_text() -> None:
    raw = (
        f"2026-11-25T11:32:24.070043848Z {DETAILS} fwatchdog: listening on port 8080\n"
        f"2026-11-25T11:32:25.000000000Z {DETAILS} two  spaces kept, ünïcode\n"
        f"2026-11-25T11:32:26.000000000Z {DETAILS} \n"
    ).encode()
    lines = parse_engine_logs(raw, "func_cat")
    assert lines == [
        LogLine("func_cat", "zb8k06w2m3mb", "2026-11-25T11:32:24.070043848Z",
                "fwatchdog: listening on port 8080"),
        LogLine("func_cat", "zb8k06w2m3mb", "2026-11-25T11:32:25.000000000Z",
                "two  spaces kept, ünïcode"),
        LogLine("func_cat", "zb8k06w2m3mb", "2026-11-25T11:32:26.000000000Z", ""),
    ]  # fmt: skip
    assert json.loads(lines[1].ndjson()) == {
        "name": "func_cat", "instance": "zb8k06w2m3mb",
        "timestamp": "2026-11-25T11:32:25.000000000Z", "text": "two  spaces kept, ünïcode",
    }  # fmt: skip


def test_engine_time_is_exact_to_the_nanosecond() -> None:
    assert engine_time("2026-11-25T11:32:24.070043848Z") == (1795606344, 70043848)
    assert engine_time("2026-11-25T11:32:24.07Z") == (1795606344, 70000000)
    assert engine_time("2026-11-25T12:32:24+01:00") == (1795606344, 0)
    assert engine_time("garbage") is None
    assert since_parameter((1795606344, 70043848)) == "1795606344.070043848"
    assert since_parameter(None) is None


def line(second: int, text: str, instance: str = "a") -> LogLine:
    return LogLine("f", instance, f"2026-11-25T11:32:{second:02d}.000000000Z", text)


def test_follow_sends_each_line_once_across_polls() -> None:
    polls: list[list[LogLine]] = [
        # the engine repeats lines at exactly `since`, and may add more at that time
        [line(2, "b"), line(2, "c"), line(3, "d")],
        [line(3, "d"), line(3, "e", instance="b"), line(4, "f")],
        [],
    ]
    asked: list[str | None] = []

    async def read(since: str | None, tail: int | None) -> Sequence[LogLine]:
        asked.append(since)
        assert tail == MAX_TAIL
        return polls.pop(0) if polls else []

    async def collect() -> list[str]:
        texts = []
        first = [line(1, "a"), line(2, "b")]
        async for got in follow(read, first, (0, 0), interval=0):
            texts.append(got.text)
            if got.text == "f":
                break
        return texts

    assert asyncio.run(collect()) == ["a", "b", "c", "d", "e", "f"]
    assert asked[:2] == ["1795606322.000000000", "1795606323.000000000"]


def test_follow_keeps_out_of_order_replicas_within_a_batch() -> None:
    polls = [[line(3, "x", "a"), line(2, "y", "b"), line(2, "z", "b")], [line(5, "later")]]

    async def read(since: str | None, tail: int | None) -> Sequence[LogLine]:
        return polls.pop(0) if polls else []

    async def collect() -> list[str]:
        texts = []
        async for got in follow(read, [line(1, "a")], (0, 0), interval=0):
            texts.append(got.text)
            if len(texts) == 5:
                break
        return texts

    assert asyncio.run(collect()) == ["a", "x", "y", "z", "later"]


def test_follow_after_a_quiet_start_never_reads_the_whole_history() -> None:
    # Nothing in the first read: polling must go on from the start time, not from None.
    asked: list[str | None] = []
    polls = [[LogLine("f", "a", "not a time", "unplaceable"), line(9, "new")]]

    async def read(since: str | None, tail: int | None) -> Sequence[LogLine]:
        asked.append(since)
        return polls.pop(0) if polls else []

    async def collect() -> list[str]:
        async for got in follow(read, [], since_seconds(1795606325.5), interval=0):
            return [got.text]
        return []

    assert asyncio.run(collect()) == ["new"]
    assert asked == ["1795606325.500000000"]


def test_carriage_returns_stay_inside_a_line_and_newest_sorts() -> None:
    raw = f"2026-11-25T11:32:24.000000000Z {DETAILS} 10%\r20%\r\n".encode()
    [only] = parse_engine_logs(raw, "f")
    assert only.text == "10%\r20%\r"
    lines = [line(3, "c"), line(1, "a", "b"), line(2, "b")]
    assert [x.text for x in newest(lines, 2)] == ["b", "c"]
