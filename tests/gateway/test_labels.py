"""The platform's label parsers (`gateway.labels`): ASCII digits, bounded length and value.

Issue 15, item 6: `"²".isdigit()` is true but `int("²")` raises, and a 5,000-digit value
exceeds Python's int limit; either used to crash the autoscaler, the cold-start path,
`/system/alert` and discovery.
"""

from __future__ import annotations

import pytest

from gateway.labels import (
    DOMAIN_LABEL,
    JOB_DEFAULT_MAX_CONCURRENT,
    JOB_DEFAULT_TIMEOUT,
    MAX_DOMAINS,
    MAX_REPLICAS,
    deploy_replicas,
    is_job,
    job_limits,
    label_problems,
    parse_bool,
    parse_domains,
    parse_duration,
    parse_integer,
    parse_number,
    parse_port,
    parse_replicas,
)
from gateway.scaling.policy import ScalingPolicy, policy_from_labels

HOSTILE = ["²", "٣", "1²", "¹⁰", "5" * 5000, "1_0", "+5", "-1", "0x10", "1e3", "", " "]


@pytest.mark.parametrize("raw", HOSTILE)
def test_integers_are_ascii_digits_only(raw: str) -> None:
    assert parse_integer(raw, 0, 10**9) is None
    assert parse_port(raw) is None
    assert parse_replicas(raw) is None


@pytest.mark.parametrize(("raw", "value"), [("1", 1), (" 42 ", 42), ("0100", 100)])
def test_integers(raw: str, value: int) -> None:
    assert parse_integer(raw, 0, 100) == value


def test_bounds() -> None:
    assert parse_port("65535") == 65535
    assert parse_port("65536") is None
    assert parse_port("0") is None
    assert parse_replicas(str(MAX_REPLICAS)) == MAX_REPLICAS
    assert parse_replicas(str(MAX_REPLICAS + 1)) is None
    assert parse_replicas("0") is None
    assert parse_integer("0" * 64 + "1", 0, 10) is None  # longer than any sane value


@pytest.mark.parametrize("raw", ["٣", "٣s", "²", "1" * 70, "5" * 5000 + "s", "1e400", "nan"])
def test_numbers_and_durations_are_ascii_and_bounded(raw: str) -> None:
    assert parse_number(raw) is None
    assert parse_duration(raw) is None


def test_numbers_durations_and_booleans() -> None:
    assert (parse_number("2.5"), parse_number(".5"), parse_number("0")) == (2.5, 0.5, None)
    assert (parse_duration("1m30s"), parse_duration(" 30 ")) == (90.0, 30.0)
    assert (parse_bool(" TRUE "), parse_bool("off"), parse_bool("²")) == (True, False, None)


@pytest.mark.parametrize(
    "labels",
    [
        {"com.faas.scale.min": "²"},
        {"com.faas.scale.max": "5" * 5000},
        {"com.faas.scale.factor": "¹⁰"},
        {"com.faas.scale.target": "٣"},
        {"com.faas.scale.zero_after": "٣m"},
    ],
)
def test_a_bad_scaling_label_falls_back_to_its_default(labels: dict[str, str]) -> None:
    policy, problems = policy_from_labels(labels)
    assert policy == ScalingPolicy()
    assert [problem.label for problem in problems] == list(labels)
    assert len(str(problems[0])) < 200  # a 5,000-digit value is not logged whole


def test_max_is_capped_like_the_api_caps_replicas() -> None:
    policy, problems = policy_from_labels({"com.faas.scale.max": "1000000"})
    assert policy.max_replicas == ScalingPolicy().max_replicas
    assert "from 1 to 100" in str(problems[0])
    assert policy_from_labels({"com.faas.scale.max": "100"})[0].max_replicas == 100


def test_label_problems_cover_every_platform_label() -> None:
    good = {
        "com.faas.port": "8081", "com.faas.scale.min": "2", "com.faas.scale.max": "3",
        "com.faas.scale.target": "4", "com.faas.scale.cooldown": "1m",
        "com.faas.scale.zero": "true", "com.faas.scale.zero_after": "5m",
        "com.faas.scale.factor": "0", "com.faas.scale.min ": "x", "other": "²", "blank": "",
        "com.faas.scale.factor_typo": "1",
    }  # fmt: skip
    found = {problem.label: problem.expected for problem in label_problems(good)}
    # Only the unknown com.faas.scale.* keys: anything else is not the platform's.
    assert set(found) == {"com.faas.scale.min ", "com.faas.scale.factor_typo"}
    bad = {"com.faas.port": "²", "com.faas.scale.min": "3", "com.faas.scale.max": "2"}
    assert [problem.label for problem in label_problems(bad)] == [
        "com.faas.port",
        "com.faas.scale.max",
    ]


def test_openfaas_scaling_labels_are_checked_like_ours() -> None:
    good = {
        "com.openfaas.scale.min": "2", "com.openfaas.scale.max": "3",
        "com.openfaas.scale.target": "50", "com.openfaas.scale.target-proportion": "0.9",
        "com.openfaas.scale.type": "rps", "com.openfaas.scale.zero": "false",
        "com.openfaas.scale.zero-duration": "15m", "com.openfaas.scale.factor": "20",
        "com.openfaas.scale.tarket": "5", "com.openfaas.other": "anything",
    }  # fmt: skip
    assert [problem.label for problem in label_problems(good)] == ["com.openfaas.scale.tarket"]
    bad = {"com.openfaas.scale.type": "memory", "com.faas.scale.target_proportion": "0"}
    found = {problem.label: problem.expected for problem in label_problems(bad)}
    assert found == {
        "com.openfaas.scale.type": "one of capacity, rps, cpu",
        "com.faas.scale.target_proportion": "a number > 0 and <= 10",
    }
    # max below min, whichever form sets each.
    mixed = {"com.openfaas.scale.min": "3", "com.faas.scale.max": "2"}
    assert [problem.label for problem in label_problems(mixed)] == ["com.faas.scale.max"]
    # Ours wins: an OpenFaaS max below our min is not what the autoscaler reads.
    shadowed = {"com.faas.scale.max": "5", "com.openfaas.scale.max": "1", "com.faas.scale.min": "3"}
    assert label_problems(shadowed) == []


@pytest.mark.parametrize(
    ("labels", "current", "replicas"),
    [
        ({}, None, 1), ({"com.faas.scale.min": "2"}, None, 2),
        ({"com.openfaas.scale.min": "3"}, None, 3),
        ({"com.faas.scale.min": "2", "com.openfaas.scale.min": "5"}, None, 2),
        ({"com.openfaas.scale.min": "x"}, None, 1), ({"com.faas.scale.min": "2"}, 1, 2),
        ({"com.faas.scale.min": "2"}, 4, 4), ({"com.faas.scale.min": "2"}, 0, 0), ({}, 3, 3),
    ],
)  # fmt: skip
def test_deploy_replicas_honour_min(
    labels: dict[str, str], current: int | None, replicas: int
) -> None:
    assert deploy_replicas(labels, current) == replicas


@pytest.mark.parametrize(
    ("raw", "domains"),
    [
        ("api.example.com", ("api.example.com",)),
        (
            " API.Example.com , www.example.com,api.example.com",
            ("api.example.com", "www.example.com"),
        ),
        ("localhost", ("localhost",)),
    ],
)
def test_custom_domains(raw: str, domains: tuple[str, ...]) -> None:
    assert parse_domains(raw) == domains


@pytest.mark.parametrize(
    "raw",
    [
        "api.example.com:8080",
        "*.example.com",
        "under_score.example.com",
        "-api.example.com",
        "api..example.com",
        "api.example.com,",
        "a" * 64 + ".example.com",
        ".".join(["a" * 63] * 4) + ".com",  # over 253 characters
        ",".join(f"d{n}.example.com" for n in range(MAX_DOMAINS + 1)),
        "é.example.com",
    ],
)
def test_invalid_custom_domains(raw: str) -> None:
    assert parse_domains(raw) is None
    assert label_problems({DOMAIN_LABEL: raw})[0].label == DOMAIN_LABEL


def test_job_labels() -> None:
    assert is_job({"com.faas.mode": "job"})
    assert is_job({"com.faas.mode": " JOB "})
    assert not is_job({})
    assert not is_job({"com.faas.mode": "replica"})
    assert job_limits({}) == (JOB_DEFAULT_MAX_CONCURRENT, JOB_DEFAULT_TIMEOUT)
    labels = {"com.faas.job.max_concurrent": "5", "com.faas.job.timeout": "90s"}
    assert job_limits(labels) == (5, 90.0)
    bad = {
        "com.faas.mode": "batch",
        "com.faas.job.max_concurrent": "0",
        "com.faas.job.timeout": "2h",
        "com.faas.job.timout": "1s",
    }
    assert [problem.label for problem in label_problems(bad)] == list(bad)


def test_a_job_function_is_deployed_with_no_replica() -> None:
    assert deploy_replicas({"com.faas.mode": "job", "com.faas.scale.min": "3"}) == 0
    assert deploy_replicas({"com.faas.mode": "job"}, current=2) == 0
