"""Fork mode with real programs: bytes, exit codes, timeouts, limits, environment."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import wait_for

from .conftest import (
    CHUNKED_POST,
    StartWatchdog,
    Watchdog,
    processes_with,
    raw_request,
    read_response,
)


@pytest.mark.parametrize("size", [0, 1, 4096, 65536, 65537, 1_000_000])
def test_cat_round_trips_random_bytes(cat_watchdog: Watchdog, size: int) -> None:
    data = os.urandom(size)
    r = httpx.post(cat_watchdog.url + "/", content=data, timeout=30)
    assert r.status_code == 200
    assert r.content == data
    assert float(r.headers["x-duration-seconds"]) >= 0


def test_cat_chunked_upload(cat_watchdog: Watchdog) -> None:
    parts = [os.urandom(n) for n in (1, 70_000, 0, 5, 200_000)]
    r = httpx.post(cat_watchdog.url + "/", content=iter(parts), timeout=30)
    assert r.status_code == 200
    assert r.content == b"".join(parts)


def test_get_runs_the_process_with_empty_stdin(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("wc -c")
    r = httpx.get(wd.url + "/anything")
    assert r.status_code == 200
    assert r.text.strip() == "0"
    assert r.headers["x-exit-code"] == "0"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_any_method(cat_watchdog: Watchdog, method: str) -> None:
    r = httpx.request(method, cat_watchdog.url + "/", content=b"abc")
    assert r.status_code == 200
    assert r.content == b"abc"


def test_head_has_no_body(cat_watchdog: Watchdog) -> None:
    with socket.create_connection(("127.0.0.1", cat_watchdog.port), timeout=20) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /_/health HTTP/1.1\r\nHost: t\r\n\r\n")
        f = sock.makefile("rb")
        head = read_response(f, head_only=True)
        assert head.status == 200
        assert read_response(f).body == b"OK\n"  # nothing was sent between the two


def test_wc(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("wc -l")
    r = httpx.post(wd.url, content=b"one\ntwo\nthree\n")
    assert r.status_code == 200
    assert r.text.strip() == "3"


def test_large_payload_streams_with_bounded_memory(cat_watchdog: Watchdog) -> None:
    size = 50 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    expected = hashlib.sha256(block * 50).hexdigest()

    def body() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    digest = hashlib.sha256()
    received = 0
    with (
        httpx.Client(timeout=120) as client,
        client.stream(
            "POST", cat_watchdog.url, content=body(), headers={"Content-Length": str(size)}
        ) as r,
    ):
        assert r.status_code == 200
        for chunk in r.iter_raw():
            digest.update(chunk)
            received += len(chunk)
    assert received == size
    assert digest.hexdigest() == expected
    assert cat_watchdog.peak_rss_kib() < 60 * 1024


def test_large_chunked_payload_full_duplex(cat_watchdog: Watchdog) -> None:
    """A client that reads while it writes gets the output streamed straight back."""
    size = 20 * 1024 * 1024
    block = os.urandom(256 * 1024)
    with socket.create_connection(("127.0.0.1", cat_watchdog.port), timeout=60) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(size // len(block)):
            sock.sendall(b"%x\r\n%b\r\n" % (len(block), block))
        sock.sendall(b"0\r\n\r\n")
        r = read_response(sock.makefile("rb"))
    assert r.status == 200
    assert r.body == block * (size // len(block))
    assert cat_watchdog.peak_rss_kib() < 60 * 1024


def test_non_zero_exit_is_500_with_stderr(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog(
        "sh -c 'echo partial; echo something broke >&2; exit 3'", expose_stderr="true"
    )
    r = httpx.post(wd.url, content=b"x")
    assert r.status_code == 500
    assert r.headers["x-exit-code"] == "3"
    assert r.text == "something broke\n"
    assert "something broke" in wd.log()  # stderr also goes to the log


def test_stderr_is_not_returned_by_default(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'echo partial; echo secret-token >&2; exit 3'")
    r = httpx.post(wd.url, content=b"x")
    assert r.status_code == 500
    assert r.headers["x-exit-code"] == "3"
    assert r.text == "fprocess exited with code 3\n"
    wait_for(lambda: "secret-token" in wd.log(), "stderr in the log")


def test_non_zero_exit_without_stderr(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'exit 3'")
    r = httpx.get(wd.url)
    assert r.status_code == 500
    assert r.headers["x-exit-code"] == "3"
    assert "exited with code 3" in r.text


def test_stderr_goes_to_log_by_default(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'echo out; echo line-one >&2; echo line-two >&2'")
    r = httpx.get(wd.url)
    assert r.status_code == 200
    assert r.text == "out\n"
    wait_for(lambda: "line-two" in wd.log(), "stderr in the log")
    assert "line-one\nline-two\n" in wd.log()


def test_combine_output(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'echo out; echo err >&2'", combine_output="true")
    r = httpx.get(wd.url)
    assert r.status_code == 200
    assert r.text == "out\nerr\n"


def test_exec_timeout_kills_the_process_group(start_watchdog: StartWatchdog) -> None:
    marker = f"61.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sh -c 'sleep {marker}; echo never'", exec_timeout="1s")
    r = httpx.post(wd.url, content=b"x", timeout=30)
    assert r.status_code == 504
    assert "exec_timeout" in r.text
    wait_for(lambda: not processes_with(marker), "the timed-out processes to be gone")
    assert wd.healthy()


def test_exec_timeout_while_streaming_body(start_watchdog: StartWatchdog) -> None:
    marker = f"62.{uuid.uuid4().int % 10**8:08d}"
    wd = start_watchdog(f"sleep {marker}", exec_timeout="1s")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(CHUNKED_POST + b"5\r\nhello\r\n")
        r = read_response(sock.makefile("rb"))
    assert r.status == 504
    wait_for(lambda: not processes_with(marker), "the timed-out process to be gone")


def test_program_that_ignores_stdin(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'echo hi'")
    with httpx.Client(timeout=30) as client:
        for _ in range(2):  # the connection stays usable
            r = client.post(wd.url, content=os.urandom(10 * 1024 * 1024))
            assert r.status_code == 200
            assert r.text == "hi\n"


def test_program_that_writes_a_lot_before_reading(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'head -c 3000000 /dev/zero; cat'")
    data = os.urandom(5 * 1024 * 1024)
    r = httpx.post(wd.url, content=data, timeout=60)
    assert r.status_code == 200
    assert r.content == b"\0" * 3_000_000 + data


def test_request_metadata_in_environment(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("env", WATCHDOG_TEST_INHERITED="yes")
    r = httpx.post(
        wd.url + "/some/path?a=1&b=two",
        content=b"{}",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Call-Id", "abc-123"),
            ("x-lower-case", "v"),
            ("X-Twice", "one"),
            ("X-Twice", "two"),
            ("Method", "spoofed"),
        ],
    )
    assert r.status_code == 200
    env = dict(line.split("=", 1) for line in r.text.splitlines() if "=" in line)
    assert env["Http_Method"] == "POST"
    assert env["Http_Path"] == "/some/path"
    assert env["Http_Query"] == "a=1&b=two"
    assert env["Http_Content_Type"] == "application/json"
    assert env["Http_Content_Length"] == "2"
    assert env["Http_X_Call_Id"] == "abc-123"
    assert env["Http_X_Lower_Case"] == "v"
    assert env["Http_X_Twice"] == "one, two"
    assert env["WATCHDOG_TEST_INHERITED"] == "yes"


def test_content_type_echoes_request_by_default(cat_watchdog: Watchdog) -> None:
    r = httpx.post(cat_watchdog.url, content=b"{}", headers={"Content-Type": "application/json"})
    assert r.headers["content-type"] == "application/json"
    r = httpx.post(cat_watchdog.url, content=b"x")
    assert r.headers["content-type"] == "text/plain"


def test_content_type_setting(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("cat", content_type="application/xml")
    r = httpx.post(wd.url, content=b"<a/>", headers={"Content-Type": "text/csv"})
    assert r.headers["content-type"] == "application/xml"


def test_max_inflight(start_watchdog: StartWatchdog) -> None:
    marker = uuid.uuid4().hex
    wd = start_watchdog(f"sh -c 'cat; : {marker}'", max_inflight="1")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as busy:
        busy.sendall(CHUNKED_POST + b"3\r\nabc\r\n")
        wait_for(lambda: bool(processes_with(marker)), "the first request's process")
        r = httpx.post(wd.url, content=b"second")
        assert r.status_code == 429
        assert "max_inflight" in r.text
        busy.sendall(b"3\r\ndef\r\n0\r\n\r\n")
        first = read_response(busy.makefile("rb"))
        assert first.status == 200
        assert first.body == b"abcdef"
    r = httpx.post(wd.url, content=b"third")
    assert r.status_code == 200


def test_max_request_bytes_with_content_length(
    start_watchdog: StartWatchdog, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    wd = start_watchdog(f"sh -c 'touch {started}; cat'", max_request_bytes="1000")
    assert httpx.post(wd.url, content=b"x" * 1000).status_code == 200
    started.unlink()
    head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n"
    assert raw_request(wd.port, head + b"x" * 10).status == 413
    r = httpx.post(wd.url, content=b"x" * 100_000)  # the client can still read the answer
    assert r.status_code == 413
    assert not started.exists()


def test_max_request_bytes_with_chunked_body(start_watchdog: StartWatchdog) -> None:
    marker = uuid.uuid4().hex
    wd = start_watchdog(f"sh -c 'cat; : {marker}'", max_request_bytes="1000")
    chunk = b"258\r\n" + b"y" * 600 + b"\r\n"
    r = raw_request(
        wd.port,
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2,
    )
    assert r.status == 413
    wait_for(lambda: not processes_with(marker), "the process to be killed")


def test_x_duration_seconds_on_every_response(cat_watchdog: Watchdog) -> None:
    for r in (
        httpx.get(cat_watchdog.url + "/_/health"),
        httpx.post(cat_watchdog.url, content=b"x"),
        httpx.post(cat_watchdog.url, content=os.urandom(300_000)),
    ):
        assert float(r.headers["x-duration-seconds"]) >= 0


def test_process_starts_with_default_sigpipe_and_only_stdio(
    start_watchdog: StartWatchdog,
) -> None:
    wd = start_watchdog("sh -c 'grep SigIgn /proc/$$/status; ls /proc/$$/fd'")
    r = httpx.post(wd.url, content=b"x")
    assert r.status_code == 200
    ignored, *fds = r.text.split()[1:]
    assert int(ignored, 16) & (1 << 12) == 0  # SIGPIPE (13) is not ignored
    assert sorted(fds) == ["0", "1", "2"]


@pytest.mark.parametrize("fprocess", ["cat", "sh -c 'echo hi'"])
def test_buffered_body_larger_than_the_pipe(start_watchdog: StartWatchdog, fprocess: str) -> None:
    wd = start_watchdog(fprocess, buffer_bytes=str(4 * 1024 * 1024))
    data = os.urandom(1024 * 1024)
    with httpx.Client(timeout=30) as client:
        for _ in range(2):  # the connection stays usable
            r = client.post(wd.url, content=data)
            assert r.status_code == 200
            assert r.content == (data if fprocess == "cat" else b"hi\n")


def test_fprocess_that_disappears_gives_500(start_watchdog: StartWatchdog, tmp_path: Path) -> None:
    exe = tmp_path / "mycat"
    exe.write_bytes(Path("/bin/cat").read_bytes())
    exe.chmod(0o755)
    wd = start_watchdog(str(exe))
    assert httpx.post(wd.url, content=b"ok").content == b"ok"
    exe.unlink()
    r = httpx.post(wd.url, content=b"ok")
    assert r.status_code == 500
    assert "cannot start fprocess" in r.text
    assert httpx.get(wd.url + "/_/health").status_code == 200


def test_proxy_header_never_becomes_http_proxy(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("env")
    r = httpx.post(wd.url, content=b"", headers={"Proxy": "http://attacker:3128", "X-A": "b"})
    assert r.status_code == 200
    names = {line.split("=", 1)[0].lower() for line in r.text.splitlines() if "=" in line}
    assert "http_x_a" in names
    assert "http_proxy" not in names


def test_output_spool_is_bounded(start_watchdog: StartWatchdog) -> None:
    marker = f"0.0{uuid.uuid4().int % 10**8:08d}"
    writer = f"while :; do head -c 65536 /dev/zero; sleep {marker}; done"
    wd = start_watchdog(f'sh -c "{writer}"', max_spool_bytes="1048576", exec_timeout="0")
    with socket.create_connection(("127.0.0.1", wd.port), timeout=20) as sock:
        sock.sendall(CHUNKED_POST + b"5\r\nhello\r\n")  # the body is still arriving
        wait_for(lambda: processes_with(marker), "fprocess to start")
        wait_for(lambda: not processes_with(marker), "fprocess to be stopped at the limit")
        sock.sendall(b"0\r\n\r\n")
        r = read_response(sock.makefile("rb"))
    assert r.status == 502
    assert b"max_spool_bytes=1048576" in r.body


CLASSIC_TIME = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"


def test_each_call_is_logged_as_the_classic_watchdog_does(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("cat")
    assert httpx.post(wd.url, content=b"hello").text == "hello"
    wait_for(lambda: "Wrote" in wd.log(), "the call's log lines")
    lines = wd.log().splitlines()
    forking = [
        n
        for n, line in enumerate(lines)
        if re.fullmatch(CLASSIC_TIME + r" Forking fprocess\.", line)
    ]
    wrote = [
        n
        for n, line in enumerate(lines)
        if re.fullmatch(CLASSIC_TIME + r" Wrote 5 Bytes - Duration: \d+\.\d{6}s", line)
    ]
    assert len(forking) == 1, lines
    assert len(wrote) == 1, lines
    assert forking[0] < wrote[0]


def test_a_failed_call_logs_no_bytes_written(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'echo partial; exit 3'")
    assert httpx.post(wd.url, content=b"x").status_code == 500
    wait_for(lambda: "Forking fprocess." in wd.log(), "the call's log line")
    assert "Wrote" not in wd.log()


def test_call_lines_can_be_switched_off(start_watchdog: StartWatchdog) -> None:
    wd = start_watchdog("sh -c 'cat; echo done >&2'", log_calls="false")
    assert httpx.post(wd.url, content=b"hello").text == "hello"
    wait_for(lambda: "done" in wd.log(), "stderr in the log")
    assert "Forking" not in wd.log()
    assert "Wrote" not in wd.log()
