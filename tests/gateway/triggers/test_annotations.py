"""The one parser of triggers: OpenFaaS's annotations as written, ours, and the 400s."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from gateway.providers.base import Function
from gateway.triggers.annotations import Schedule, Trigger, parse_triggers
from tests.gateway.management.test_api_in_process import call
from tests.gateway.providers.memory_provider import MemoryProvider

A = "com.faas.annotation."


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_openfaas_topics_and_cron_as_written() -> None:
    triggers, problems = parse_triggers(
        {A + "topic": "cron-function, orders,payments", A + "schedule": "*/5 * * * *"}
    )
    assert problems == []
    assert triggers == [
        Trigger("cron", schedule=Schedule("*/5 * * * *"), openfaas=True),
        Trigger("topic", topics=("orders", "payments"), openfaas=True),
    ]


def test_our_form_several_schedules_time_zone_body_mode() -> None:
    labels = {
        "com.faas.trigger.nightly.schedule": "0 3 * * *",
        "com.faas.trigger.nightly.timezone": "Europe/Paris",
        "com.faas.trigger.nightly.body": '{"report": true}',
        "com.faas.trigger.nightly.catch_up": "true",
        "com.faas.trigger.tick.schedule": "* * * * * *",
        "com.faas.trigger.tick.mode": "sync",
        A + "com.faas.trigger.sensors.topic": "sensors/+/temp",
    }
    triggers, problems = parse_triggers(labels)
    assert problems == []
    by_name = {trigger.name: trigger for trigger in triggers}
    nightly = by_name["nightly"]
    assert nightly.schedule == Schedule("0 3 * * *", "Europe/Paris")
    assert (nightly.body, nightly.catch_up, nightly.mode) == (b'{"report": true}', True, "async")
    assert by_name["tick"].mode == "sync"
    assert by_name["sensors"].topics == ("sensors/+/temp",)


def test_a_label_wins_over_an_annotation_of_the_same_name() -> None:
    triggers, _ = parse_triggers(
        {A + "com.faas.trigger.t.topic": "a", "com.faas.trigger.t.topic": "b"}
    )
    assert [trigger.topics for trigger in triggers] == [("b",)]


@pytest.mark.parametrize(
    ("labels", "named", "says"),
    [
        ({A + "topic": "cron-function", A + "schedule": "61 * * * *"}, A + "schedule",
         "Bad minute"),
        ({A + "topic": "cron-function"}, A + "topic", "needs a schedule"),
        ({A + "schedule": "* * * * *"}, A + "schedule", "topic=cron-function"),
        ({"com.faas.trigger.x.schedule": "* * *"}, "com.faas.trigger.x.schedule",
         "Wrong number of fields"),
        ({"com.faas.trigger.x.schedule": "0 0 30 2 *"}, "com.faas.trigger.x.schedule",
         "not a cron expression"),
        ({"com.faas.trigger.x.schedule": "@daily"}, "com.faas.trigger.x.schedule", "@-names"),
        ({"com.faas.trigger.x.schedule": "* * * * *", "com.faas.trigger.x.timezone": "Mars/Base"},
         "com.faas.trigger.x.timezone", "time zone"),
        ({"com.faas.trigger.x.schedule": "* * * * *", "com.faas.trigger.x.topic": "a"},
         "com.faas.trigger.x.", "not both"),
        ({"com.faas.trigger.x.topic": "a", "com.faas.trigger.x.body": "hi"},
         "com.faas.trigger.x.body", "only for a schedule"),
        ({"com.faas.trigger.x.topic": "a", "com.faas.trigger.x.mode": "later"},
         "com.faas.trigger.x.mode", "async or sync"),
        ({"com.faas.trigger.x.topic": "a b"}, "com.faas.trigger.x.topic", "without spaces"),
        ({"com.faas.trigger.x.retries": "3"}, "com.faas.trigger.x.retries", "unknown field"),
        ({"com.faas.trigger.Bad.topic": "a"}, "com.faas.trigger.Bad.topic", "<name>"),
        ({"com.faas.trigger.cron.topic": "a", A + "topic": "cron-function",
          A + "schedule": "* * * * *"}, "com.faas.trigger.cron.topic", "OpenFaaS"),
    ],
)  # fmt: skip
def test_problems_name_the_label(labels: dict[str, str], named: str, says: str) -> None:
    _, problems = parse_triggers(labels)
    assert problems, labels
    assert problems[0].label.startswith(named)
    assert says in str(problems[0])


def test_schedule_ticks_in_its_time_zone() -> None:
    every_second = Schedule("* * * * * *")
    assert every_second.next_after(at("2026-01-01T00:00:00")) == at("2026-01-01T00:00:01")
    assert every_second.next_after(at("2026-01-01T00:00:00.5")) == at("2026-01-01T00:00:01")
    assert every_second.last_at_or_before(at("2026-01-01T00:00:01")) == at("2026-01-01T00:00:01")
    assert every_second.last_at_or_before(at("2026-01-01T00:00:01.7")) == at("2026-01-01T00:00:01")
    paris = Schedule("0 3 * * *", "Europe/Paris")  # 03:00 in Paris is 02:00 UTC in winter
    assert paris.next_after(at("2026-01-01T00:00:00")) == at("2026-01-01T02:00:00")


def test_a_bad_schedule_is_a_400_naming_it_at_deploy() -> None:
    provider = MemoryProvider()
    body = {
        "service": "nightly",
        "image": "faas/nightly",
        "annotations": {"topic": "cron-function", "schedule": "*/5 * * *"},
    }
    refused = call(provider, "POST", "/functions", json=body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error.startswith("annotations: schedule='*/5 * * *': not a cron expression"), error
    labelled = {**body, "annotations": {}, "labels": {"com.faas.trigger.t.schedule": "x"}}
    refused = call(provider, "POST", "/functions", json=labelled)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("labels: com.faas.trigger.t.schedule='x'")
    assert provider.functions() == []


def test_a_good_schedule_deploys_and_is_described() -> None:
    provider = MemoryProvider([Function("other", "faas/other", 1, "tasks.other")])
    body = {
        "service": "nightly",
        "image": "faas/nightly",
        "annotations": {"topic": "cron-function", "schedule": "*/5 * * * *"},
    }
    assert call(provider, "POST", "/functions", json=body).status_code == 202
    described = call(provider, "GET", "/function/nightly").json()
    assert described["annotations"] == body["annotations"]


def test_a_time_zone_works_without_the_systems_zone_database() -> None:
    """An image without /usr/share/zoneinfo (python:*-slim) still knows the zones: the
    `tzdata` package is a dependency, and zoneinfo falls back to it."""
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        triggers, problems = parse_triggers({
            "com.faas.trigger.nightly.schedule": "0 3 * * *",
            "com.faas.trigger.nightly.timezone": "Pacific/Chatham",
        })  # fmt: skip
        assert problems == []
        assert triggers[0].schedule is not None
        offset = triggers[0].schedule.zone.utcoffset(datetime(2026, 1, 1))
        assert offset == timedelta(hours=13, minutes=45)
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
