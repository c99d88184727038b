"""Definition files: our own shape, and OpenFaaS stack files read as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_cli.__main__ import main
from faas_cli.definitions import load_definitions
from faas_cli.errors import UsageError

OPENFAAS_STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:31112
  network: func_functions
configuration:
  templates:
    - name: python3-http
functions:
  hello:
    lang: python3-http
    handler: ./hello
    image: localhost/faas/hello:latest
    fprocess: python3 index.py
    environment:
      GREETING: hi
      SHARED: from-environment
    environment_file:
      - env.yml
      - more/env.yml
    secrets: [api-key]
    labels: {team: docs}
    annotations: {topic: demo}
    limits: {memory: 64Mi, cpu: "0.5"}
    requests: {memory: 32Mi, cpu: 100m}
    constraints: [node.role == manager]
    readonly_root_filesystem: true
    namespace: openfaas-fn
    build_args: {PYTHON_VERSION: "3.12"}
    build_options: [dev]
  built:
    lang: dockerfile
    handler: ./built
    image: localhost/faas/built:latest
  prebuilt:
    image: localhost/faas/prebuilt:latest
    handler: ./prebuilt
    skip_build: true
"""


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "env.yml").write_text("environment:\n  SHARED: from-file\n  DEBUG: true\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "env.yml").write_text("environment:\n  DEBUG: 'no'\n")
    path = tmp_path / "stack.yml"
    path.write_text(OPENFAAS_STACK)
    return path


def test_an_openfaas_stack_file_is_read_as_it_is(stack: Path) -> None:
    definitions = load_definitions(stack)
    assert definitions.gateway == "http://127.0.0.1:31112"
    hello = definitions.functions["hello"]
    assert hello.deployment() == {
        "service": "hello",
        "image": "localhost/faas/hello:latest",
        "envProcess": "python3 index.py",
        # environment_file values override environment, later files the earlier ones.
        "envVars": {"GREETING": "hi", "SHARED": "from-file", "DEBUG": "no"},
        "labels": {"team": "docs"},
        "annotations": {"topic": "demo"},
        "constraints": ["node.role == manager"],
        "secrets": ["api-key"],
        "readOnlyRootFilesystem": True,
        "limits": {"memory": "64Mi", "cpu": "0.5"},
        "requests": {"memory": "32Mi", "cpu": "100m"},
        "namespace": "openfaas-fn",
    }
    assert hello.handler == (stack.parent / "hello").resolve()  # the template's function/
    assert hello.lang == "python3-http"
    assert hello.build_args == {"PYTHON_VERSION": "3.12"}
    assert definitions.functions["built"].handler == (stack.parent / "built").resolve()
    assert definitions.functions["prebuilt"].handler is None  # skip_build


def test_what_cannot_be_honoured_is_named(stack: Path) -> None:
    assert load_definitions(stack).ignored == (
        "configuration",
        "provider.network",
        "functions.hello.build_options",
    )


def test_the_warning_is_printed(stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `build` of a function with nothing to build fails after the file is read.
    main(["build", "-f", str(stack), "prebuilt"])
    error = capsys.readouterr().err
    assert "warning" in error
    assert "functions.hello.build_options" in error


def test_a_language_without_an_image_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text("provider: {name: openfaas}\nfunctions:\n  fn: {lang: node18, handler: ./fn}\n")
    with pytest.raises(UsageError, match=r"functions\.fn\.image: required"):
        load_definitions(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("provider: {name: other}\nfunctions: {f: {image: a}}\n", "provider.name"),
        ("provider: [openfaas]\nfunctions: {f: {image: a}}\n", "provider:"),
        ("provider: {name: openfaas, gatway: x}\nfunctions: {f: {image: a}}\n", "gatway"),
        ("functions: {f: {image: a, environment_file: [missing.yml]}}\n", "cannot read"),
        ("functions: {f: {image: a, environment_file: [bad.yml]}}\n", "'environment' key"),
        ("functions: {f: {image: a, readonly_root_filesystem: yes please}}\n", "readonly_root"),
        ("functions: {f: {image: a, imagee: b}}\n", "imagee: unknown key"),
        ("functoins: {}\n", "unknown key 'functoins'"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yml").write_text("GREETING: hi\n")
    path = tmp_path / "stack.yml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_definitions(path)


def test_our_own_file_has_nothing_ignored(tmp_path: Path) -> None:
    path = tmp_path / "faas.yml"
    path.write_text(
        "gateway: http://127.0.0.1:8080\nfunctions:\n"
        "  hello: {image: localhost/faas/hello:latest, handler: ./hello,"
        " readOnlyRootFilesystem: true}\n"
    )
    definitions = load_definitions(path)
    assert definitions.ignored == ()
    assert definitions.functions["hello"].handler == (tmp_path / "hello").resolve()
    assert "namespace" not in definitions.functions["hello"].deployment()
