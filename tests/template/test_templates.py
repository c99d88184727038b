"""The templates of template/, run as their images run them but without Docker: each
build context assembled as `faas build` assembles it, the real watchdog started in it
with the settings of the template's Dockerfile (`ENV`), and called over HTTP. Also the
Dockerfiles' own checks that refuse a handler with a syntax error, naming its file."""

from __future__ import annotations

import http.client
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from faas_cli.templates import (
    CHECKOUT_TEMPLATES,
    DOCKERFILE_LANG,
    assemble_context,
    find_template,
    list_templates,
)
from tests.support import free_port, start_watchdog

WATCHDOG_ARG = "ARG WATCHDOG_IMAGE=localhost/faas/watchdog:latest"
# The runtimes these tests need on the host, by template (golang-http needs Go).
RUNTIMES = {"python3-http": "python3", "python3": "python3", "node": "node",
            "bash-streaming": "bash", DOCKERFILE_LANG: "sh", "golang-http": "go"}  # fmt: skip


def dockerfile(language: str) -> str:
    folder = CHECKOUT_TEMPLATES / language
    path = folder / ("function/Dockerfile" if language == DOCKERFILE_LANG else "Dockerfile")
    return path.read_text()


def image_environment(text: str) -> dict[str, str]:
    """Every `ENV name="value" ...` of a Dockerfile (continuation lines joined)."""
    environment: dict[str, str] = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                name, _, value = word.partition("=")
                environment[name] = value
    return environment


def context(tmp_path: Path, language: str, handler: dict[str, str] | None = None) -> Path:
    """The build context of a function of `language` whose handler is the skeleton, with
    `handler`'s files written over it."""
    template = find_template(CHECKOUT_TEMPLATES, language)
    source = tmp_path / "handler"
    shutil.copytree(template.skeleton, source)
    for name, text in (handler or {}).items():
        (source / name).write_text(text)
    if language == DOCKERFILE_LANG:
        return source
    return assemble_context(template, source, tmp_path / "build" / "fn")


def call(port: int, body: bytes, method: str = "POST", **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, "/some/path?x=1", body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_every_template_is_in_faas_cli_layout_and_builds_from_the_watchdog() -> None:
    templates = list_templates(CHECKOUT_TEMPLATES)
    assert set(RUNTIMES) <= set(templates)
    for language, template in templates.items():
        assert any(template.skeleton.iterdir()), language
        text = dockerfile(language)
        assert WATCHDOG_ARG in text, language
        assert re.search(r"^FROM \$\{WATCHDOG_IMAGE\}", text, re.MULTILINE), language
        if language != DOCKERFILE_LANG:
            # faas-cli deploys the template's fprocess: it must be the image's.
            assert template.fprocess == image_environment(text)["fprocess"], language


@pytest.mark.parametrize("language", [lang for lang in RUNTIMES if lang != "golang-http"])
def test_the_template_answers_behind_the_watchdog(tmp_path: Path, language: str) -> None:
    if shutil.which(RUNTIMES[language]) is None:
        pytest.skip(f"{RUNTIMES[language]} is not installed")
    folder = context(tmp_path, language)
    settings = image_environment(dockerfile(language))
    settings.pop("port", None)  # the test's own, free port
    if settings.get("mode") == "http":
        settings["upstream_url"] = f"http://127.0.0.1:{free_port()}"
    with start_watchdog(settings.pop("fprocess"), folder, settings) as watchdog:
        assert call(watchdog.port, b"hi") == (200, f"Hello from {language}! You said: hi".encode())


def test_python3_http_answers_status_headers_json_and_errors(tmp_path: Path) -> None:
    handler = (
        "def handle(event, context):\n"
        "    if event.path == '/boom':\n"
        "        raise ValueError('no')\n"
        "    if event.method == 'GET':\n"
        "        body = {'q': event.query, 'host': bool(context.hostname)}\n"
        "        return {'statusCode': 201, 'body': body, 'headers': {'X-Mine': 'yes'}}\n"
        "    return event.body[::-1]\n"
    )
    folder = context(tmp_path, "python3-http", {"handler.py": handler})
    settings = {"mode": "http", "upstream_url": f"http://127.0.0.1:{free_port()}"}
    with start_watchdog(f"{sys.executable} index.py", folder, settings) as watchdog:
        connection = http.client.HTTPConnection("127.0.0.1", watchdog.port, timeout=20)
        connection.request("GET", "/x?q=1")
        reply = connection.getresponse()
        assert (reply.status, reply.getheader("X-Mine")) == (201, "yes")
        assert reply.getheader("Content-Type") == "application/json"
        assert reply.read() == b'{"q": {"q": ["1"]}, "host": true}'
        connection.close()
        big = bytes(range(256)) * 4096  # large enough for the watchdog to stream it
        assert call(watchdog.port, big) == (200, big[::-1])
        assert call(watchdog.port, b"", "POST")[0] == 200
        status, _ = call(watchdog.port, b"x", "DELETE")
        assert status == 200
        connection = http.client.HTTPConnection("127.0.0.1", watchdog.port, timeout=20)
        connection.request("POST", "/boom", body=b"x")
        assert connection.getresponse().status == 500
        connection.close()
    assert "ValueError: no" in watchdog.log()


def test_node_parses_json_and_refuses_bad_json(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    handler = "module.exports = async (event, context) => ({ got: event.body, m: event.method })\n"
    folder = context(tmp_path, "node", {"handler.js": handler})
    settings = {"mode": "http", "upstream_url": f"http://127.0.0.1:{free_port()}"}
    with start_watchdog("node index.js", folder, settings) as watchdog:
        json_type = {"Content-Type": "application/json"}
        assert call(watchdog.port, b'{"a": 1}', **json_type) == (200, b'{"got":{"a":1},"m":"POST"}')
        assert call(watchdog.port, b"{a", **json_type)[0] == 400


# What the Dockerfiles run to refuse a broken handler (each command is checked to be the
# Dockerfile's own), run here on the host: the error names the handler's file and line.
BROKEN = [
    ("python3-http", "handler.py", "def handle(event, context)\n    return 1\n",
     "python3 -m compileall -q index.py function", r"function/handler\.py.*line 1"),
    ("python3", "handler.py", "def handle(req):\nreturn req\n",
     "python3 -m compileall -q index.py function", r"function/handler\.py.*line 2"),
    ("node", "handler.js", "module.exports = async (event, context) => {\n",
     'node --check "$file"', r"function/handler\.js:\d+"),
    ("bash-streaming", "handler.sh", "if true; then\n  echo\n",
     "bash -n function/handler.sh", r"function/handler\.sh: line \d+"),
]  # fmt: skip


@pytest.mark.parametrize(("language", "name", "source", "check", "expected"), BROKEN)
def test_a_handler_with_a_syntax_error_fails_the_build_naming_its_file(
    tmp_path: Path, language: str, name: str, source: str, check: str, expected: str
) -> None:
    if shutil.which(RUNTIMES[language]) is None:
        pytest.skip(f"{RUNTIMES[language]} is not installed")
    text = dockerfile(language)
    assert check in text
    run = next(line for line in text.replace("\\\n", " ").splitlines() if check in line)
    command = run.removeprefix("RUN ").strip()
    folder = context(tmp_path, language, {name: source})
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    done = subprocess.run(["sh", "-c", command], cwd=folder, capture_output=True, text=True,
                          check=False, env={"PATH": path})  # fmt: skip
    assert done.returncode != 0
    assert re.search(expected, done.stdout + done.stderr, re.DOTALL), done.stdout + done.stderr
    fixed = context(tmp_path / "fixed", language)
    ok = subprocess.run(["sh", "-c", command], cwd=fixed, capture_output=True, check=False)
    assert ok.returncode == 0, ok


def wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel of a module `name` that says its name."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": f"NAME = {name!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(
            f"{info}/RECORD", "".join(f"{m},,\n" for m in files) + f"{info}/RECORD,,\n"
        )
    return path


@pytest.mark.parametrize("language", ["python3-http", "python3"])
def test_requirements_install_from_the_contexts_wheels_with_no_index(
    tmp_path: Path, language: str
) -> None:
    """The Dockerfile's pip step, run with a fresh virtualenv's python3 and no index."""
    folder = context(tmp_path, language, {"requirements.txt": "# mine\ntmplprobe==1.0\n"})
    wheel(folder / "wheels", "tmplprobe")
    text = dockerfile(language).replace("\\\n", " ")
    step = next(line for line in text.splitlines() if "pip install" in line)
    scratch = tmp_path / "scratch"
    shutil.copytree(folder / "wheels", scratch / "wheels")
    shutil.copy(folder / "function" / "requirements.txt", scratch / "requirements.txt")
    command = step.removeprefix("RUN ").replace("/tmp/", f"{scratch}/")
    # python3 is this interpreter (whose pip the step runs); pip installs into `target`.
    shim, target = tmp_path / "bin", tmp_path / "site"
    shim.mkdir()
    (shim / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python3").chmod(0o755)
    env = {"PATH": f"{shim}:/usr/bin:/bin", "PIP_TARGET": str(target),
           "PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_CONFIG_FILE": "/dev/null",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # fmt: skip
    done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "tmplprobe.py").is_file()
    assert not (scratch / "wheels").exists()  # the step leaves nothing behind in the image
