"""The jobs scenario's pure parts: a status record's times, and the bench's template."""

from __future__ import annotations

import pytest

from bench.fleet import FunctionTemplate
from bench.jobs import FPROCESS, WORK_ROUNDS, Timing, bench_template, timing
from bench.processes import NotAvailable


def test_a_records_times_come_from_the_handlers_first_line_and_its_duration() -> None:
    record: dict[str, object] = {
        "state": "succeeded",
        "queuedAt": 100.0,
        "durationSeconds": 0.75,
        "body": "100.5\nabc rounds=20000 host=x\n",
    }
    assert timing(record) == Timing(start_s=0.5, result_s=0.75)


@pytest.mark.parametrize(
    "record",
    [
        {"queuedAt": 1.0, "durationSeconds": 1.0, "body": ""},
        {"queuedAt": 1.0, "durationSeconds": 1.0, "body": "not-a-time\n"},
        {"durationSeconds": 1.0, "body": "2.0\n"},
    ],
)
def test_a_record_without_a_start_time_is_not_available(record: dict[str, object]) -> None:
    with pytest.raises(NotAvailable, match="no start time"):
        timing(record)


def test_the_template_gets_the_benchs_command_and_work_once() -> None:
    template = FunctionTemplate("img", ("fprocess=python3 handler.py", "ROUNDS=9", "A=1"))
    env = bench_template(template).env
    assert env == ("A=1", f"fprocess={FPROCESS}", f"ROUNDS={WORK_ROUNDS}")
