"""End-to-end harness: deploys the real stack on the real Docker Swarm once per run.

`scripts/up.sh` (what `make up` runs) builds the images, deploys the stack and waits
until the gateway and every sample function answer; the stack is removed afterwards
unless it was already deployed before the run or FAAS_KEEP_STACK=1 is set.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.e2e import front_log, gateway_log

ROOT = support.ROOT
STACK = support.StackSettings.from_env()
STACK_NAME = STACK.name
FUNCTIONS_NETWORK = STACK.network
GATEWAY_URL = STACK.gateway_url
PASSWORD_FILE = ROOT / "secrets" / "basic-auth-password"
USER_FILE = ROOT / "secrets" / "basic-auth-user"


def credentials() -> tuple[str, str]:
    """The management API's credentials, as scripts/up.sh wrote them."""
    user = USER_FILE.read_text().strip() if USER_FILE.exists() else "admin"
    return user, PASSWORD_FILE.read_text().strip()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder needs the swarm; the multi-node tests run last, since
    they add nodes that the stack's functions (images on this machine only) must not be
    scheduled on meanwhile."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.swarm)
    items.sort(key=lambda item: Path(str(item.fspath)).name == "test_cluster.py")


LINES_SHOWN = 15
"""Events of each log printed at the end of the run for each failed test."""


@dataclass(frozen=True)
class FailureLogs:
    """What the front and the gateways logged while a test failed."""

    test: str
    front: list[str]
    gateways: list[str]


LOGS_OF_FAILURES: list[FailureLogs] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test (its setup, call or teardown) gets what the front logged meanwhile
    (tests/e2e/front_log.py) and the gateways' warnings and errors (gateway_log.py): in
    its report, and again at the end of the run, where a CI log cut to its tail keeps
    them."""
    report: pytest.TestReport = yield
    if report.failed:
        since = call.start - 1
        try:
            front = front_log.notable(logged_since(f"{STACK_NAME}_front", since))
            gateways = gateway_log.problems(
                logged_since(f"{STACK_NAME}_gateway", since, stopped_too=True)
            )
        except pytest.fail.Exception:  # pytest-timeout's alarm, in the middle of a read
            front = gateways = ["- (not read: the test's time ran out meanwhile)"]
        report.sections.append(("the front meanwhile", "\n".join(front) or "(nothing)"))
        report.sections.append(
            ("the gateways' warnings and errors meanwhile", "\n".join(gateways) or "(none)")
        )
        LOGS_OF_FAILURES.append(FailureLogs(f"{item.nodeid} ({report.when})", front, gateways))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for failure in LOGS_OF_FAILURES:
        for what, events in (("the front", failure.front),
                             ("the gateways' warnings and errors", failure.gateways)):  # fmt: skip
            terminalreporter.write_sep("-", f"{what} during {failure.test}")
            shown = events[-LINES_SHOWN:]
            if len(events) > len(shown):
                terminalreporter.write_line(f"({len(events) - len(shown)} earlier events above)")
            for event in shown:
                terminalreporter.write_line(event)


LOG_READ_SECONDS = 30
"""The bound on each docker call that reads a log for a report."""

_LOG_READS_FAILED: list[str] = []
"""Why a log read failed, once one has: the rest of the run reads no more (an engine that
does not answer would cost every later failure `LOG_READ_SECONDS` per call)."""


def logged_since(service: str, started: float, stopped_too: bool = False) -> list[str]:
    """What the service's containers on this node (running ones; stopped ones the engine
    still keeps too if `stopped_too`) logged on either stream since `started` (epoch
    seconds), as `<RFC 3339 time> <line>`, in time order. `docker logs`, not `docker
    service logs`: the latter reads every past task's log too and can take minutes. A log
    that cannot be read is a line saying so (`- (...)`): this serves reports, which must
    not crash the run nor hold it up."""
    if _LOG_READS_FAILED:
        return [f"- ({service}'s log not read: an earlier read failed: {_LOG_READS_FAILED[0]})"]
    since = str(int(started))  # a Unix time: no time zone to get wrong
    listing = ["docker", "ps", "-q", *(["-a"] if stopped_too else []),
               "--filter", f"label=com.docker.swarm.service.name={service}"]  # fmt: skip
    lines: list[str] = []
    try:
        listed = subprocess.run(listing, capture_output=True, text=True,
                                timeout=LOG_READ_SECONDS, check=True)  # fmt: skip
        for container in listed.stdout.split():
            logged = subprocess.run(
                ["docker", "logs", "--timestamps", "--since", since, container],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=LOG_READ_SECONDS, check=False,
            )  # fmt: skip
            if logged.returncode == 0:
                lines += logged.stdout.splitlines()
            else:  # removed since it was listed, say
                lines.append(f"- (container {container[:12]}: {logged.stdout.strip()[:200]})")
    except (OSError, subprocess.SubprocessError) as error:
        _LOG_READS_FAILED.append(str(error)[:200])
        lines.append(f"- ({service}'s log could not be read: {error})")
    return sorted(lines)  # the containers' lines in time order (RFC 3339 in UTC sorts so)


def docker(*args: str, check: bool = True) -> str:
    """Run the docker CLI and return its standard output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def task_hostnames(service: str) -> set[str]:
    """The hostnames of a service's running containers (by default, their short IDs)."""
    ids = docker(
        "ps", "--filter", f"label=com.docker.swarm.service.name={service}", "--format", "{{.ID}}"
    )
    return set(ids.split())


def running_task_ids(service: str) -> set[str]:
    """The full ids of a service's tasks meant to be running (a log line's `instance`
    starts with one)."""
    return set(docker("service", "ps", "--quiet", "--no-trunc",
                      "--filter", "desired-state=running", service).split())  # fmt: skip


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """`tests.support.wait_for` at the swarm's pace: long deadlines, slow polls, and an
    HTTP error (a service still starting) counting as "not yet"."""
    support.wait_for(condition, what, timeout, interval=0.5, ignore=(httpx.HTTPError, OSError))


FaasCli = Callable[..., subprocess.CompletedProcess[str]]
"""The real faas-cli with these arguments (and `stdin=`), its output captured."""


def logged_in_faas_cli(
    gateway_url: str, folder: Path, config: Path | None = None, timeout: float = 120
) -> FaasCli:
    """The real faas-cli (`tests.support.faas_cli`), run in `folder` with a config of its
    own (`config`, else `folder/config`: never the user's), logged in to the gateway with
    the stack's credentials once its management API answers."""
    binary = support.faas_cli()
    env = {**os.environ, "OPENFAAS_CONFIG": str(config or folder / "config"),
           "OPENFAAS_URL": gateway_url}  # fmt: skip

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *args], cwd=folder, env=env, input=stdin,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    user, password = credentials()
    with httpx.Client(base_url=gateway_url, auth=(user, password), timeout=10) as http:
        wait_for(lambda: http.get("/system/info").status_code == 200,
                 "the gateway's management API", timeout=180)  # fmt: skip
    login = run("login", "--username", user, "--password-stdin", stdin=password)
    assert login.returncode == 0, login.stdout + login.stderr
    return run


@dataclass(frozen=True)
class Platform:
    """The deployed stack as the tests reach it."""

    gateway_url: str
    stack_name: str
    network: str

    def service_name(self, function: str) -> str:
        """The full service name of a sample function of the stack."""
        return f"{self.stack_name}_{function}"

    def prometheus(self, query: str) -> list[dict[str, Any]]:
        """The result of an instant query to the stack's Prometheus, through the gateway
        (the stack does not publish Prometheus)."""
        reply = httpx.get(f"{self.gateway_url}/system/prometheus/api/v1/query",
                          params={"query": query}, auth=credentials(), timeout=10)  # fmt: skip
        reply.raise_for_status()
        body = reply.json()
        assert body["status"] == "success", (query, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """Deploy (or update) the stack once per run and wait until it answers."""
    was_deployed = STACK_NAME in docker("stack", "ls", "--format", "{{.Name}}", check=False).split()
    # With Mosquitto (MQTT=1), so the MQTT triggers' test runs too (unless MQTT= is set).
    env = {**os.environ, "MQTT": os.environ.get("MQTT", "1")}
    subprocess.run([str(ROOT / "scripts" / "up.sh")], check=True, timeout=1500, env=env)
    yield Platform(GATEWAY_URL, STACK_NAME, FUNCTIONS_NETWORK)
    if not was_deployed and os.environ.get("FAAS_KEEP_STACK") != "1":
        subprocess.run([str(ROOT / "scripts" / "down.sh")], check=False, timeout=300)


@pytest.fixture(scope="session")
def client(platform: Platform) -> Iterator[httpx.Client]:
    """An HTTP client for the gateway."""
    with httpx.Client(base_url=platform.gateway_url, timeout=60.0) as http:
        yield http


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    """The management API with the stack's credentials, once it answers (a test module
    may follow one that redeployed or restarted the gateway)."""
    with httpx.Client(base_url=platform.gateway_url, auth=credentials(), timeout=60) as http:
        wait_for(lambda: http.get("/system/info").status_code == 200,
                 "the gateway's management API", timeout=180)  # fmt: skip
        yield http


ServiceFactory = Callable[..., str]


@pytest.fixture
def make_service(platform: Platform) -> Iterator[ServiceFactory]:
    """Create plain swarm services (`docker service create`) removed after the test."""
    created: list[str] = []

    def create(image: str, *options: str, name: str | None = None) -> str:
        service = name or f"e2e-{uuid.uuid4().hex[:8]}"
        docker(
            "service",
            "create",
            "--detach",
            "--network",
            platform.network,
            "--name",
            service,
            *options,
            image,
        )
        created.append(service)
        return service

    yield create
    for service in created:
        docker("service", "rm", service, check=False)
