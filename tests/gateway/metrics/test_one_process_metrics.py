"""`python -m gateway` with GATEWAY_WORKERS=1: one process, `/metrics` from its shared folder.

A real gateway process over a `cat` watchdog: counts are exact, the series come from the
process's own multiprocess files, and the text passes promtool as the in-process one does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.harness import BackgroundProcess
from tests.support import free_port, require_tool, wait_for

ALLOWED_LINT = (
    'gateway_service_count non-histogram and non-summary metrics should not have "_count" suffix'
)


def test_one_process_serves_metrics_from_its_shared_folder(
    cat_watchdog: BackgroundProcess, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "GATEWAY_WORKERS": "1",
        "GATEWAY_PROVIDER": "static",
        "GATEWAY_STATIC_FUNCTIONS": f"cat=127.0.0.1:{cat_watchdog.port}",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "warning",
        "TMPDIR": str(tmp_path),
    }
    url = f"http://127.0.0.1:{port}"
    with BackgroundProcess([sys.executable, "-m", "gateway"], port, env) as process:
        wait_for(lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 200, "/healthz")
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(25):
                assert client.post("/function/cat", content=f"call {i}").text == f"call {i}"
            assert client.get("/function/made-up").status_code == 404
            response = client.get("/metrics")
        (folder,) = tmp_path.glob("faas-gateway-*")
        writers = {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("counter_*.db")}
        assert writers == {process.process.pid}, "the one process wrote the shared files"
        process.process.terminate()
        # uvicorn serving alone ends by the signal that stopped it, once shut down.
        assert process.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert not list(tmp_path.glob("faas-gateway-*")), "the shared folder was left behind"

    found = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    cat = frozenset({("function_name", "cat")})
    assert found[("gateway_function_invocation_total", cat | {("code", "200")})] == 25
    assert found[("gateway_function_invocation_started", cat)] == 25
    assert found[("gateway_functions_seconds_count", cat | {("code", "200")})] == 25
    assert found[("gateway_function_invocation_inflight", cat)] == 0
    assert found[("gateway_service_count", cat)] == 1
    assert "made-up" not in response.text
    assert "_created" not in response.text

    promtool = require_tool("promtool", "scripts/promtool.sh")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=response.content, capture_output=True, timeout=60
    )
    problems = [line for line in result.stderr.decode().splitlines() if line.strip()]
    assert result.returncode in (0, 3), problems
    assert [line for line in problems if line != ALLOWED_LINT] == []
