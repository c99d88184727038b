"""The service labels the platform reads, and the one parser for each value.

Labels come from anyone who can create a service (a stack file, `docker service create`,
the management API), so every value is parsed here and nowhere else: ASCII only (Python's
`str.isdigit` and `\\d` accept `²` or `٣`, which `int()` then refuses or reads), at most
`MAX_VALUE_LENGTH` characters (no 5,000-digit integers; custom domains, a list of host
names, `MAX_DOMAINS_LENGTH`), within documented bounds. At run
time a bad value is a `LabelProblem` (the caller logs it once and uses the default); at
deploy time `check_platform_labels` turns it into a 400 naming the label.

A leaf: it imports nothing of the gateway (only the shared parsers, fwatchdog/values.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Durations and booleans parse as the gateway's and the watchdog's variables do: one
# parser per kind (fwatchdog/values.py); re-exported, as part of this module's parsers.
from fwatchdog.values import BOOLEAN, DNS_LABEL_PATTERN, DURATION
from fwatchdog.values import parse_bool as parse_bool
from fwatchdog.values import parse_duration as parse_duration
from fwatchdog.values import parse_integer as parse_integer

MAX_REPLICAS = 100
"""The most replicas a function may have: the API's bound, and `com.faas.scale.max`'s."""
MAX_VALUE_LENGTH = 64
"""Longer values of the platform's labels are invalid before any parsing."""

FUNCTION_LABEL = "com.faas.function"
MANAGED_LABEL = "com.faas.managed"
# A function's, a secret's, a namespace's config and network's: the faas namespace it is in.
NAMESPACE_LABEL = "com.faas.namespace"
PORT_LABEL = "com.faas.port"
# `true`: the function is switched off: at 0 replicas a call answers 503 instead of waking
# it (every other function at 0 is woken by its next call, as OpenFaaS users expect).
PAUSED_LABEL = "com.faas.paused"
ANNOTATION_PREFIX = "com.faas.annotation."
SCALE_PREFIX = "com.faas.scale."
MIN_LABEL = SCALE_PREFIX + "min"
MAX_LABEL = SCALE_PREFIX + "max"
TARGET_LABEL = SCALE_PREFIX + "target"
COOLDOWN_LABEL = SCALE_PREFIX + "cooldown"
ZERO_LABEL = SCALE_PREFIX + "zero"
ZERO_AFTER_LABEL = SCALE_PREFIX + "zero_after"
FACTOR_LABEL = SCALE_PREFIX + "factor"
TYPE_LABEL = SCALE_PREFIX + "type"
TARGET_PROPORTION_LABEL = SCALE_PREFIX + "target_proportion"
# OpenFaaS's scaling labels (docs.openfaas.com, "Auto-scaling"; `factor` from its
# Alertmanager rule): each means what its twin here means. Where both are set, ours wins;
# any of them set makes OpenFaaS's defaults apply (docs/scaling.md, "Labels").
OPENFAAS_SCALE_PREFIX = "com.openfaas.scale."
OPENFAAS_SCALE_LABELS: Mapping[str, str] = {
    OPENFAAS_SCALE_PREFIX + "min": MIN_LABEL,
    OPENFAAS_SCALE_PREFIX + "max": MAX_LABEL,
    OPENFAAS_SCALE_PREFIX + "target": TARGET_LABEL,
    OPENFAAS_SCALE_PREFIX + "target-proportion": TARGET_PROPORTION_LABEL,
    OPENFAAS_SCALE_PREFIX + "type": TYPE_LABEL,
    OPENFAAS_SCALE_PREFIX + "zero": ZERO_LABEL,
    OPENFAAS_SCALE_PREFIX + "zero-duration": ZERO_AFTER_LABEL,
    OPENFAAS_SCALE_PREFIX + "factor": FACTOR_LABEL,
}
"""Each OpenFaaS scaling label → the `com.faas.scale.*` label of the same meaning."""
SCALE_TYPES = ("capacity", "rps", "cpu")
"""What `type` scales on: calls in flight, calls per second, or millicores, per replica."""
# On Docker secrets: the ones the management API created (only those can be mounted by a
# deployment), the name the API knows them by, and which version of that name each holds.
SECRET_LABEL = "com.faas.secret"
SECRET_NAME_LABEL = "com.faas.secret.name"
SECRET_VERSION_LABEL = "com.faas.secret.version"

RETRY_PREFIX = "com.faas.retry."
RETRY_ATTEMPTS_LABEL = RETRY_PREFIX + "attempts"
RETRY_CODES_LABEL = RETRY_PREFIX + "codes"
RETRY_MIN_WAIT_LABEL = RETRY_PREFIX + "min_wait"
RETRY_MAX_WAIT_LABEL = RETRY_PREFIX + "max_wait"
MAX_INFLIGHT_LABEL = "com.faas.async.max_inflight"
# Jobs (docs/jobs.md): `com.faas.mode=job` runs each async call in a fresh container.
MODE_LABEL = "com.faas.mode"
JOB_MODE = "job"
JOB_PREFIX = "com.faas.job."
JOB_MAX_CONCURRENT_LABEL = JOB_PREFIX + "max_concurrent"
JOB_TIMEOUT_LABEL = JOB_PREFIX + "timeout"
JOB_DEFAULT_MAX_CONCURRENT = 2
"""Jobs of one function running at once (per queue worker) unless its label says more."""
JOB_MAX_MAX_CONCURRENT = 100
JOB_DEFAULT_TIMEOUT = 300.0
"""Seconds a job may run unless its label says otherwise."""
JOB_MAX_TIMEOUT = 3600.0
"""The longest `com.faas.job.timeout` accepted (seconds)."""
# The header whose hash keeps a caller on one version (docs/versions.md), set by users on
# the function's own service like the labels above. The labels the platform writes for
# versions are `gateway.versions.model`'s.
STICKY_HEADER_LABEL = "com.faas.traffic.sticky_header"
DOMAIN_LABEL = "com.faas.domain"
"""Host names (comma-separated) whose requests go to the function (README, routing)."""
MAX_DOMAINS = 8
"""The most custom domains one function may claim."""
MAX_HOST_NAME_LENGTH = 253
"""The longest host name: DNS's bound (RFC 1035), for custom domains and `Host` alike."""
MAX_DOMAINS_LENGTH = MAX_DOMAINS * (MAX_HOST_NAME_LENGTH + 1)
MAX_RETRY_ATTEMPTS = 100
"""The most attempts `com.faas.retry.attempts` may ask for."""

_HOST_NAME = re.compile(rf"{DNS_LABEL_PATTERN}(?:\.{DNS_LABEL_PATTERN})*", re.ASCII)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", re.ASCII)
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_MAX_TARGET = 1e6
_MAX_PROPORTION = 10.0


@dataclass(frozen=True)
class LabelProblem:
    """A label whose value cannot be used (its default applies instead)."""

    label: str
    value: str
    expected: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= MAX_VALUE_LENGTH else self.value[:20] + "..."
        return f"label {self.label}={shown!r}: expected {self.expected}; using the default"


def parse_number(raw: str) -> float | None:
    """A decimal number > 0 (`5`, `2.5`, `.5`), ASCII digits, bounded; None otherwise."""
    text = raw.strip()
    if len(text) > MAX_VALUE_LENGTH or _NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    return value if 0 < value <= _MAX_TARGET else None


def parse_port(raw: str | None) -> int | None:
    """A TCP port (1-65535) from a label value, or None if missing or invalid."""
    return None if raw is None else parse_integer(raw, 1, 65535)


def parse_status_codes(raw: str) -> frozenset[int] | None:
    """HTTP status codes, comma-separated (`429,502,503`), each 100-599; None if invalid."""
    text = raw.strip()
    if len(text) > MAX_VALUE_LENGTH:
        return None
    codes = [parse_integer(part, 100, 599) for part in text.split(",")]
    if not codes or any(code is None for code in codes):
        return None
    return frozenset(code for code in codes if code is not None)


def parse_attempts(raw: str) -> int | None:
    """How many times an async call is tried in all: 1 to `MAX_RETRY_ATTEMPTS`."""
    return parse_integer(raw, 1, MAX_RETRY_ATTEMPTS)


def parse_inflight(raw: str) -> int | None:
    """How many async calls of one function may run at once: 1 to 10000."""
    return parse_integer(raw, 1, 10000)


def parse_mode(raw: str) -> str | None:
    """A function's mode: `job` (each async call in its own container); None otherwise."""
    text = raw.strip().lower()
    return text if text == JOB_MODE else None


def parse_job_timeout(raw: str) -> float | None:
    """A job's timeout: a duration > 0, at most `JOB_MAX_TIMEOUT`."""
    value = parse_duration(raw)
    return value if value is not None and 0 < value <= JOB_MAX_TIMEOUT else None


def parse_job_concurrency(raw: str) -> int | None:
    """Jobs of one function at once: 1 to `JOB_MAX_MAX_CONCURRENT`."""
    return parse_integer(raw, 1, JOB_MAX_MAX_CONCURRENT)


def parse_header_name(raw: str) -> str | None:
    """An HTTP header name (an RFC 9110 token, at most 64 characters), lower-cased."""
    text = raw.strip()
    return text.lower() if _HEADER_NAME.fullmatch(text) else None


def parse_host_name(raw: str) -> str | None:
    """A host name: DNS labels (letters, digits and '-', 1-63 characters each) joined by
    dots, at most `MAX_HOST_NAME_LENGTH` characters, lower-cased; None otherwise."""
    text = raw.strip().lower()
    if len(text) > MAX_HOST_NAME_LENGTH or _HOST_NAME.fullmatch(text) is None:
        return None
    return text


def parse_domains(raw: str) -> tuple[str, ...] | None:
    """Custom domains from `api.example.com,www.example.com`: 1 to `MAX_DOMAINS` host names
    (lower-cased, each named once, in the order given); None otherwise."""
    if len(raw) > MAX_DOMAINS_LENGTH:
        return None
    domains = [parse_host_name(part) for part in raw.split(",")]
    if len(domains) > MAX_DOMAINS or any(domain is None for domain in domains):
        return None
    return tuple(dict.fromkeys(domain for domain in domains if domain is not None))


@dataclass(frozen=True)
class LabelRule:
    """How one platform label's value is read: its parser and what it expects."""

    parse: Callable[[str], object | None]
    expected: str


def parse_replicas(raw: str) -> int | None:
    """A replica count for `min` or `max`: 1 to `MAX_REPLICAS`."""
    return parse_integer(raw, 1, MAX_REPLICAS)


def parse_percent(raw: str) -> int | None:
    """A percentage, 0 to 100."""
    return parse_integer(raw, 0, 100)


def parse_proportion(raw: str) -> float | None:
    """The share of `target` a replica is aimed at (`0.9`): a number > 0, at most 10."""
    value = parse_number(raw)
    return value if value is not None and value <= _MAX_PROPORTION else None


def parse_scale_type(raw: str) -> str | None:
    """One of `SCALE_TYPES`, any case; None otherwise."""
    text = raw.strip().lower()
    return text if text in SCALE_TYPES else None


def scale_label(labels: Mapping[str, str], label: str) -> tuple[str, str] | None:
    """Which label sets the scaling label `label` (a `com.faas.scale.*` name), and its
    value: `label` itself if given, else its OpenFaaS twin; None if neither is (blank
    values count as absent)."""
    if labels.get(label, "").strip():
        return label, labels[label]
    for twin, ours in OPENFAAS_SCALE_LABELS.items():
        if ours == label and labels.get(twin, "").strip():
            return twin, labels[twin]
    return None


def openfaas_scaling(labels: Mapping[str, str]) -> bool:
    """Whether any OpenFaaS scaling label is given: OpenFaaS's defaults then apply."""
    return any(labels.get(twin, "").strip() for twin in OPENFAAS_SCALE_LABELS)


def deploy_replicas(labels: Mapping[str, str], current: int | None = None) -> int:
    """The replicas a deployment with `labels` starts with: at least its `min` (from
    either form; 1 if none or invalid), and no fewer than the service's `current`
    replicas on an update (a function at 0 stays asleep: its next call wakes it). A job
    (`com.faas.mode=job`) has none: each of its calls runs in a container of its own."""
    if is_job(labels):
        return 0
    given = scale_label(labels, MIN_LABEL)
    minimum = (parse_replicas(given[1]) if given else None) or 1
    if current is None:
        return minimum
    return current if current <= 0 else max(current, minimum)


_OWN_LABELS: Mapping[str, LabelRule] = {
    PORT_LABEL: LabelRule(parse_port, "a port from 1 to 65535"),
    MIN_LABEL: LabelRule(parse_replicas, f"an integer from 1 to {MAX_REPLICAS}"),
    MAX_LABEL: LabelRule(parse_replicas, f"an integer from 1 to {MAX_REPLICAS}"),
    TARGET_LABEL: LabelRule(parse_number, f"a number > 0 and <= {_MAX_TARGET:g}"),
    COOLDOWN_LABEL: LabelRule(parse_duration, DURATION),
    ZERO_LABEL: LabelRule(parse_bool, BOOLEAN),
    ZERO_AFTER_LABEL: LabelRule(parse_duration, DURATION),
    FACTOR_LABEL: LabelRule(parse_percent, "a percentage 0-100"),
    TYPE_LABEL: LabelRule(parse_scale_type, "one of " + ", ".join(SCALE_TYPES)),
    TARGET_PROPORTION_LABEL: LabelRule(
        parse_proportion, f"a number > 0 and <= {_MAX_PROPORTION:g}"
    ),
    RETRY_ATTEMPTS_LABEL: LabelRule(parse_attempts, f"an integer from 1 to {MAX_RETRY_ATTEMPTS}"),
    RETRY_CODES_LABEL: LabelRule(parse_status_codes, "status codes 100-599, comma-separated"),
    RETRY_MIN_WAIT_LABEL: LabelRule(parse_duration, DURATION),
    RETRY_MAX_WAIT_LABEL: LabelRule(parse_duration, DURATION),
    MAX_INFLIGHT_LABEL: LabelRule(parse_inflight, "an integer from 1 to 10000"),
    MODE_LABEL: LabelRule(parse_mode, JOB_MODE),
    JOB_MAX_CONCURRENT_LABEL: LabelRule(
        parse_job_concurrency, f"an integer from 1 to {JOB_MAX_MAX_CONCURRENT}"
    ),
    JOB_TIMEOUT_LABEL: LabelRule(
        parse_job_timeout, f"{DURATION}, more than 0 and at most {JOB_MAX_TIMEOUT:g}s"
    ),
    STICKY_HEADER_LABEL: LabelRule(parse_header_name, "an HTTP header name"),
    DOMAIN_LABEL: LabelRule(
        parse_domains, f"1 to {MAX_DOMAINS} host names (e.g. api.example.com), comma-separated"
    ),
}
PLATFORM_LABELS: Mapping[str, LabelRule] = {
    **_OWN_LABELS,
    **{twin: _OWN_LABELS[ours] for twin, ours in OPENFAAS_SCALE_LABELS.items()},
}
"""Every valued label the platform reads (`com.faas.function` is read as opt-out only)."""


_CHECKED_PREFIXES = (SCALE_PREFIX, OPENFAAS_SCALE_PREFIX, RETRY_PREFIX, JOB_PREFIX)


def label_problems(labels: Mapping[str, str]) -> list[LabelProblem]:
    """Every platform label in `labels` whose value is invalid, `max` below `min`, and any
    unknown `com.faas.scale.*`, `com.openfaas.scale.*`, `com.faas.retry.*` or
    `com.faas.job.*` label (a typo
    that would be silently ignored)."""
    problems: list[LabelProblem] = []
    values: dict[str, object] = {}
    for label, raw in labels.items():
        rule = PLATFORM_LABELS.get(label)
        if rule is not None:
            values[label] = value = rule.parse(raw) if raw.strip() else ""  # blank: absent
            if value is None:
                problems.append(LabelProblem(label, raw, rule.expected))
        elif label.startswith(_CHECKED_PREFIXES):
            prefix = next(prefix for prefix in _CHECKED_PREFIXES if label.startswith(prefix))
            known = ", ".join(name for name in PLATFORM_LABELS if name.startswith(prefix))
            problems.append(LabelProblem(label, raw, f"one of {known}"))
    given_min, given_max = scale_label(labels, MIN_LABEL), scale_label(labels, MAX_LABEL)
    minimum = values.get(given_min[0]) if given_min else None
    maximum = values.get(given_max[0]) if given_max else None
    if given_max and isinstance(minimum, int) and isinstance(maximum, int) and maximum < minimum:
        problems.append(LabelProblem(given_max[0], given_max[1], f"at least min ({minimum})"))
    least, most = values.get(RETRY_MIN_WAIT_LABEL), values.get(RETRY_MAX_WAIT_LABEL)
    if isinstance(least, float) and isinstance(most, float) and most < least:
        problems.append(
            LabelProblem(
                RETRY_MAX_WAIT_LABEL,
                labels[RETRY_MAX_WAIT_LABEL],
                f"at least min_wait ({least:g}s)",
            )
        )
    return problems


def is_paused(labels: Mapping[str, str]) -> bool:
    """Whether `labels` switch the function off (`com.faas.paused=true`); an invalid value
    counts as not paused (`unknown_labels`' checks report it)."""
    raw = labels.get(PAUSED_LABEL)
    return raw is not None and parse_bool(raw) is True


def is_job(labels: Mapping[str, str]) -> bool:
    """Whether `labels` make the function a job (`com.faas.mode=job`)."""
    raw = labels.get(MODE_LABEL)
    return raw is not None and parse_mode(raw) == JOB_MODE


def job_limits(labels: Mapping[str, str]) -> tuple[int, float]:
    """A job function's (jobs at once, timeout in seconds); invalid values: the defaults
    (the deploy-time check refuses them)."""
    concurrent = parse_job_concurrency(labels.get(JOB_MAX_CONCURRENT_LABEL, "") or "x")
    timeout = parse_job_timeout(labels.get(JOB_TIMEOUT_LABEL, "") or "x")
    return concurrent or JOB_DEFAULT_MAX_CONCURRENT, timeout or JOB_DEFAULT_TIMEOUT
