"""Fixtures every test package shares, and checks on the suite itself."""

from __future__ import annotations

import signal
from collections.abc import Generator, Iterator

import pytest

from tests.support import Watchdog, start_watchdog

# A suite started in the background by a shell without job control (`make test &` in a
# script, `nohup ... &`) ignores SIGINT, and every process it starts inherits that: the
# tests that stop a gateway or `faas up --watch` with SIGINT then see it ignored. A Python
# handler here is not inherited (a child starts with the default), so the children
# behave as they do from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def cat_watchdog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watchdog]:
    """A watchdog running `cat` (answers with the request body), shared by a module's tests."""
    with start_watchdog("cat", tmp_path_factory.mktemp("cat")) as watchdog:
        yield watchdog


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Fail the collection of a test module that holds no test.

    A test file emptied by a bad merge otherwise passes unseen (it happened to
    tests/faas_cli/test_cli.py). A module that skips itself on purpose reports "skipped"
    and is left alone.
    """
    report = yield
    if isinstance(collector, pytest.Module) and report.passed and not report.result:
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.path}: this test module collects no test; an empty test file is "
            "almost always a bad merge (restore its tests, or delete the file)"
        )
    return report
