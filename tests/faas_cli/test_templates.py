"""`faas new`, `faas template list` and `faas build --shrinkwrap` with the repository's
template/ folder, and the same layout from OpenFaaS's own faas-cli (no Docker)."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from faas_cli.__main__ import main
from faas_cli.definitions import load_definitions
from faas_cli.errors import UsageError
from faas_cli.templates import (
    CHECKOUT_TEMPLATES,
    TEMPLATE_DIR_ENV,
    context_digest,
    find_template,
    list_templates,
    new_function,
    tagged,
    template_root,
)
from tests.support import faas_cli

LANGUAGES = ["python3-http", "python3", "node", "golang-http", "bash-streaming", "dockerfile"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder; templates come from the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(TEMPLATE_DIR_ENV, raising=False)
    monkeypatch.delenv("FUNCTION_IMAGE_PREFIX", raising=False)
    return tmp_path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_checkout_has_every_template() -> None:
    assert set(LANGUAGES) <= set(list_templates(CHECKOUT_TEMPLATES))


def test_new_creates_the_handler_and_the_definition_file(folder: Path) -> None:
    assert main(["new", "--lang", "python3-http", "hello"]) == 0
    assert tree(folder / "hello") == tree(CHECKOUT_TEMPLATES / "python3-http" / "function")
    hello = load_definitions(folder / "faas.yml").functions["hello"]
    assert (hello.lang, hello.handler, hello.image) == (
        "python3-http", (folder / "hello").resolve(), "localhost/faas/hello:latest",
    )  # fmt: skip


def test_new_appends_keeping_what_the_file_says(folder: Path) -> None:
    stack = folder / "stack.yml"
    stack.write_text("# my functions\nfunctions:\n    old:   # kept\n        image: a/old:1\n")
    assert main(["new", "-f", str(stack), "--lang", "node", "--prefix", "reg:5000/t", "hi"]) == 0
    text = stack.read_text()
    assert text.startswith("# my functions\nfunctions:\n    old:   # kept\n")
    functions = load_definitions(stack).functions
    assert functions["old"].image == "a/old:1"
    assert functions["hi"].image == "reg:5000/t/hi:latest"
    assert functions["hi"].lang == "node"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lang", "cobol", "fresh"], "no template for language 'cobol'.*python3-http"),
        (["--lang", "python3", "taken"], "already defines a function named 'taken'"),
        (["--lang", "python3", "Bad_Name"], "cannot name a function"),
        (["--lang", "python3", "there"], "already exists"),
    ],
)
def test_new_refuses_and_writes_nothing(
    folder: Path, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = folder / "faas.yml"
    stack.write_text("functions:\n  taken: {image: a/taken:1}\n")
    (folder / "there").mkdir()
    before = tree(folder)
    assert main(["new", *arguments]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert tree(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == ["faas.yml", "there"]


def test_new_refuses_a_file_it_cannot_append_to(folder: Path) -> None:
    stack = folder / "faas.yml"
    stack.write_text("functions:\n  a: {image: x/a:1}\ngateway: http://127.0.0.1:8080\n")
    with pytest.raises(UsageError, match="not the file's last section"):
        new_function(stack, "b", find_template(CHECKOUT_TEMPLATES, "python3"), "p")
    assert not (folder / "b").exists()


def test_template_list_names_every_language(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["template", "list"]) == 0
    printed = capsys.readouterr().out
    for language in LANGUAGES:
        assert language in printed


def test_a_local_template_folder_wins(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_root(None, folder) == CHECKOUT_TEMPLATES
    (folder / "template").mkdir()
    assert template_root(None, folder) == folder / "template"
    monkeypatch.setenv(TEMPLATE_DIR_ENV, str(CHECKOUT_TEMPLATES))
    assert template_root(None, folder) == CHECKOUT_TEMPLATES
    with pytest.raises(UsageError, match="does not exist"):
        template_root(str(folder / "missing"))


def test_shrinkwrap_assembles_the_template_and_the_handler(folder: Path) -> None:
    main(["new", "--lang", "python3-http", "hello"])
    (folder / "hello" / "handler.py").write_text("def handle(event, context):\n    return 'x'\n")
    (folder / "hello" / "data.txt").write_text("mine")
    (folder / "hello" / "__pycache__").mkdir()
    (folder / "hello" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"stale")
    assert main(["build", "--shrinkwrap"]) == 0
    built = tree(folder / "build" / "hello")
    template = CHECKOUT_TEMPLATES / "python3-http"
    assert built["Dockerfile"] == (template / "Dockerfile").read_bytes()
    assert built["index.py"] == (template / "index.py").read_bytes()
    assert built["function/handler.py"] == b"def handle(event, context):\n    return 'x'\n"
    assert built["function/data.txt"] == b"mine"
    assert "function/__pycache__/handler.cpython-311.pyc" not in built
    # A second build starts from an empty folder: a file removed from the handler is gone.
    (folder / "hello" / "data.txt").unlink()
    main(["build", "--shrinkwrap"])
    assert "function/data.txt" not in tree(folder / "build" / "hello")


def test_the_dockerfile_language_builds_its_own_folder(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["new", "--lang", "dockerfile", "own"])
    assert (folder / "own" / "Dockerfile").is_file()
    capsys.readouterr()
    assert main(["build", "--shrinkwrap"]) == 0
    assert f"own shrink-wrapped to {(folder / 'own').resolve()}" in capsys.readouterr().out
    assert not (folder / "build").exists()


def test_the_digest_follows_the_files_and_the_arguments(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("1")
    first = context_digest(tmp_path, {})
    assert context_digest(tmp_path, {}) == first
    assert context_digest(tmp_path, {"BASE_IMAGE": "x"}) != first
    (tmp_path / "a").write_text("2")
    assert context_digest(tmp_path, {}) != first


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("localhost/faas/hello:latest", "localhost/faas/hello:latest-abc"),
        ("localhost:5000/faas/hello", "localhost:5000/faas/hello:latest-abc"),
        ("hello:1.2", "hello:1.2-abc"),
    ],
)
def test_builds_are_tagged_as_faas_cli_tags_them(image: str, expected: str) -> None:
    assert tagged(image, "abc") == expected


# OpenFaaS's faas-cli with the same folder.


def run_faas_cli(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [str(faas_cli()), *args], cwd=folder, capture_output=True, text=True, timeout=60,
        env={**os.environ, "OPENFAAS_CONFIG": str(folder / ".openfaas")}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("language", LANGUAGES)
def test_faas_cli_new_copies_the_same_handler(folder: Path, language: str) -> None:
    shutil.copytree(CHECKOUT_TEMPLATES, folder / "template")
    run_faas_cli(folder, "new", "--lang", language, "theirs")
    main(["new", "--lang", language, "ours"])
    assert tree(folder / "theirs") == tree(folder / "ours")
    written = yaml.safe_load((folder / "stack.yaml").read_text())["functions"]["theirs"]
    assert (written["lang"], written["handler"]) == (language, "./theirs")
    theirs = load_definitions(folder / "stack.yaml").functions["theirs"]  # read as it is
    assert (theirs.lang, theirs.handler) == (language, (folder / "theirs").resolve())


def test_faas_cli_shrinkwraps_our_file_as_faas_build_does(folder: Path) -> None:
    """Our definition file, read by faas-cli: the same build contexts, file for file."""
    shutil.copytree(CHECKOUT_TEMPLATES, folder / "template")
    for language in LANGUAGES:
        main(["new", "--lang", language, f"f-{language}"])
    run_faas_cli(folder, "build", "--shrinkwrap", "-f", "faas.yml")
    theirs = folder / "theirs"
    (folder / "build").rename(theirs)
    assert main(["build", "--shrinkwrap"]) == 0
    for language in LANGUAGES:
        ours = folder / "build" / f"f-{language}"
        if language == "dockerfile":  # faas-cli copies the folder, faas builds it in place
            ours = folder / f"f-{language}"
        assert tree(theirs / f"f-{language}") == tree(ours), language
        assert not filecmp.dircmp(theirs / f"f-{language}", ours).diff_files
