"""The one parser of a function's triggers, from its service labels (docs/triggers.md).

OpenFaaS's annotations, as written (kept as `com.faas.annotation.<key>` labels):

- `topic`: one topic or a comma-separated list; each message on one of them calls the
  function (a trigger named `topic`);
- `topic: cron-function` (among the others, if any) with `schedule: "*/5 * * * *"`: the
  cron-connector's form (a trigger named `cron`).

Ours, for what OpenFaaS cannot say, as labels or as annotations (a label wins):
`com.faas.trigger.<name>.<field>`, with `schedule` (a cron expression, 5 fields, or 6
with seconds first) or `topic` (a comma-separated list), and for a schedule `timezone`
(an IANA name, UTC by default), `body` (sent with every run), `catch_up` (after a
downtime, fire the last missed tick); `mode` (`async`, the default, through the
JetStream queue with the function's `com.faas.retry.*` policy, or `sync`).

At deploy time a problem is a 400 naming the label (`check_labels`, `check_annotations`);
at run time a bad trigger is logged and left out (`parse_triggers` returns the problems
with the rest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from gateway.labels import ANNOTATION_PREFIX, parse_bool

TOPIC_ANNOTATION = "topic"
SCHEDULE_ANNOTATION = "schedule"
CRON_TOPIC = "cron-function"
"""The topic that makes `schedule` a cron trigger (OpenFaaS's cron-connector)."""
OPENFAAS_CRON_TRIGGER = "cron"
OPENFAAS_TOPIC_TRIGGER = "topic"
TRIGGER_PREFIX = "com.faas.trigger."
FIELDS = ("schedule", "topic", "timezone", "body", "mode", "catch_up")
MAX_TRIGGERS = 16
"""Triggers one function may have (OpenFaaS's two included)."""
MAX_TOPICS = 16
"""Topics one trigger may name."""
MAX_TOPIC_LENGTH = 255
MAX_BODY_BYTES = 4096
"""A schedule's fixed body (UTF-8)."""
MAX_CRON_LENGTH = 128
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}", re.ASCII)
_TOPIC = re.compile(r"[^\s,]{1,255}")

Mode = Literal["async", "sync"]


@dataclass(frozen=True)
class TriggerProblem:
    """A trigger label (or annotation) that cannot be used."""

    label: str
    value: str
    expected: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:80] + "..."
        return f"{self.label}={shown!r}: {self.expected}"


@dataclass(frozen=True)
class Schedule:
    """A cron expression in a time zone."""

    expression: str
    timezone: str = "UTC"

    @property
    def zone(self) -> tzinfo:
        """The time zone the expression is read in."""
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def next_after(self, moment: float) -> float:
        """The first tick strictly after `moment` (Unix seconds)."""
        start = datetime.fromtimestamp(moment, self.zone)
        return next(iter(CronSim(self.expression, start))).timestamp()

    def last_at_or_before(self, moment: float) -> float:
        """The last tick at or before `moment` (Unix seconds)."""
        start = datetime.fromtimestamp(moment, self.zone)
        if start.microsecond == 0:  # `reverse` skips the start itself, unless it has a fraction
            start = start.replace(microsecond=1)
        return next(iter(CronSim(self.expression, start, reverse=True))).timestamp()


@dataclass(frozen=True)
class Trigger:
    """One trigger of one function: a schedule or some topics."""

    name: str
    schedule: Schedule | None = None
    topics: tuple[str, ...] = ()
    body: bytes = b""
    mode: Mode = "async"
    catch_up: bool = False
    openfaas: bool = False
    """Declared with OpenFaaS's annotations (its calls carry `X-Topic: cron-function`)."""

    @property
    def kind(self) -> Literal["schedule", "topic"]:
        """`schedule` or `topic`."""
        return "schedule" if self.schedule is not None else "topic"


def parse_triggers(labels: Mapping[str, str]) -> tuple[list[Trigger], list[TriggerProblem]]:
    """A function's triggers from its service labels, and the problems of those left out."""
    problems: list[TriggerProblem] = []
    triggers = _openfaas_triggers(labels, problems)
    declared: dict[str, dict[str, tuple[str, str]]] = {}
    # Annotations first: a label of the same name wins.
    for prefix in (ANNOTATION_PREFIX + TRIGGER_PREFIX, TRIGGER_PREFIX):
        for label, value in labels.items():
            if not label.startswith(prefix):
                continue
            name, dot, field = label[len(prefix) :].rpartition(".")
            if not dot or _NAME.fullmatch(name) is None:
                problems.append(
                    TriggerProblem(
                        label,
                        value,
                        f"expected {TRIGGER_PREFIX}<name>.<field>, <name> "
                        "of lower-case letters, digits, '_' and '-'",
                    )
                )
            elif field not in FIELDS:
                problems.append(TriggerProblem(label, value, f"unknown field: one of {FIELDS}"))
            else:
                declared.setdefault(name, {})[field] = (label, value)
    for name, fields in sorted(declared.items()):
        trigger = _own_trigger(name, fields, problems)
        if trigger is None:
            continue
        if any(t.name == name for t in triggers):
            label = next(iter(fields.values()))[0]
            problems.append(
                TriggerProblem(label, "", f"trigger {name!r} is OpenFaaS's annotations' name")
            )
            continue
        triggers.append(trigger)
    if len(triggers) > MAX_TRIGGERS:
        problems.append(
            TriggerProblem(TRIGGER_PREFIX + "*", "", f"at most {MAX_TRIGGERS} triggers")
        )
        triggers = triggers[:MAX_TRIGGERS]
    return triggers, problems


def trigger_problems(labels: Mapping[str, str]) -> list[TriggerProblem]:
    """What `parse_triggers` would leave out of `labels`."""
    return parse_triggers(labels)[1]


def check_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    """`labels` (a deployment's), unless a trigger label in them cannot be used: then
    `ValueError` naming the first (at deploy: a 400)."""
    problems = trigger_problems({k: v for k, v in labels.items() if k.startswith(TRIGGER_PREFIX)})
    if problems:
        raise ValueError(str(problems[0]))
    return labels


def check_annotations(annotations: Mapping[str, str]) -> Mapping[str, str]:
    """`annotations` (a deployment's), unless a trigger among them cannot be used: then
    `ValueError` naming the first by its annotation key (at deploy: a 400)."""
    problems = trigger_problems({ANNOTATION_PREFIX + k: v for k, v in annotations.items()})
    if problems:
        first = problems[0]
        raise ValueError(str(replace(first, label=first.label.removeprefix(ANNOTATION_PREFIX))))
    return annotations


def _openfaas_triggers(labels: Mapping[str, str], problems: list[TriggerProblem]) -> list[Trigger]:
    topic_label = ANNOTATION_PREFIX + TOPIC_ANNOTATION
    schedule_label = ANNOTATION_PREFIX + SCHEDULE_ANNOTATION
    raw_topics = labels.get(topic_label, "")
    raw_schedule = labels.get(schedule_label, "")
    triggers: list[Trigger] = []
    topics = _topics(topic_label, raw_topics, problems) if raw_topics.strip() else ()
    if topics is None:
        return triggers
    if CRON_TOPIC in topics:
        if not raw_schedule.strip():
            problems.append(
                TriggerProblem(topic_label, raw_topics, "topic=cron-function needs a schedule")
            )
        else:
            schedule = _schedule(schedule_label, raw_schedule, "UTC", problems)
            if schedule is not None:
                triggers.append(Trigger(OPENFAAS_CRON_TRIGGER, schedule=schedule, openfaas=True))
    elif raw_schedule.strip():
        problems.append(
            TriggerProblem(
                schedule_label,
                raw_schedule,
                "a schedule needs topic=cron-function (OpenFaaS's "
                "cron-connector form), or use com.faas.trigger.<name>.schedule",
            )
        )
    others = tuple(topic for topic in topics if topic != CRON_TOPIC)
    if others:
        triggers.append(Trigger(OPENFAAS_TOPIC_TRIGGER, topics=others, openfaas=True))
    return triggers


def _own_trigger(
    name: str, fields: Mapping[str, tuple[str, str]], problems: list[TriggerProblem]
) -> Trigger | None:
    def given(field: str) -> tuple[str, str] | None:
        found = fields.get(field)
        return found if found is not None and found[1].strip() else None

    schedule_given, topic_given = given("schedule"), given("topic")
    first_label = next(iter(fields.values()))[0]
    if (schedule_given is None) == (topic_given is None):
        problems.append(
            TriggerProblem(
                first_label, "", f"trigger {name!r} needs a schedule or a topic, not both"
            )
        )
        return None
    mode: Mode = "async"
    if given("mode") is not None:
        label, raw = fields["mode"]
        if raw.strip() not in ("async", "sync"):
            problems.append(TriggerProblem(label, raw, "expected async or sync"))
            return None
        mode = "sync" if raw.strip() == "sync" else "async"
    if topic_given is not None:
        for field in ("timezone", "body", "catch_up"):
            if given(field) is not None:
                problems.append(
                    TriggerProblem(fields[field][0], fields[field][1], "only for a schedule")
                )
                return None
        topics = _topics(*topic_given, problems)
        return Trigger(name, topics=topics, mode=mode) if topics else None
    assert schedule_given is not None
    zone_given = given("timezone")
    timezone = zone_given[1].strip() if zone_given is not None else "UTC"
    schedule = _schedule(*schedule_given, timezone, problems, fields.get("timezone"))
    if schedule is None:
        return None
    catch_up = False
    if given("catch_up") is not None:
        label, raw = fields["catch_up"]
        parsed = parse_bool(raw)
        if parsed is None:
            problems.append(TriggerProblem(label, raw, "expected true or false"))
            return None
        catch_up = parsed
    body = fields["body"][1].encode("utf-8", "surrogatepass") if "body" in fields else b""
    if len(body) > MAX_BODY_BYTES:
        problems.append(TriggerProblem(fields["body"][0], "", f"at most {MAX_BODY_BYTES} bytes"))
        return None
    return Trigger(name, schedule=schedule, body=body, mode=mode, catch_up=catch_up)


def _topics(label: str, raw: str, problems: list[TriggerProblem]) -> tuple[str, ...] | None:
    topics = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    bad = next((topic for topic in topics if _TOPIC.fullmatch(topic) is None), None)
    if not topics or bad is not None:
        problems.append(
            TriggerProblem(
                label,
                raw,
                f"expected topics without spaces, at most "
                f"{MAX_TOPIC_LENGTH} characters each, comma-separated",
            )
        )
        return None
    if len(topics) > MAX_TOPICS:
        problems.append(TriggerProblem(label, raw, f"at most {MAX_TOPICS} topics"))
        return None
    return topics


def _schedule(
    label: str,
    raw: str,
    timezone: str,
    problems: list[TriggerProblem],
    timezone_field: tuple[str, str] | None = None,
) -> Schedule | None:
    expression = " ".join(raw.split())
    try:
        zone: tzinfo = UTC if timezone == "UTC" else ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        shown = timezone_field or (label, timezone)
        problems.append(
            TriggerProblem(shown[0], shown[1], "not a known time zone (e.g. Europe/Paris, UTC)")
        )
        return None
    reason = _cron_problem(expression, zone)
    if reason is not None:
        problems.append(
            TriggerProblem(
                label,
                raw,
                f"not a cron expression ({reason}): 5 fields, minute "
                "hour day-of-month month day-of-week, or 6 with seconds first",
            )
        )
        return None
    return Schedule(expression, timezone)


def _cron_problem(expression: str, zone: tzinfo) -> str | None:
    if len(expression) > MAX_CRON_LENGTH:
        return f"longer than {MAX_CRON_LENGTH} characters"
    if expression.startswith("@"):
        return "no @-names"
    try:
        next(iter(CronSim(expression, datetime.now(zone))))
    except CronSimError as error:
        return str(error) or "invalid"
    except StopIteration:
        return "it never fires"
    return None
