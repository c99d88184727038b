"""Language templates in faas-cli's own layout, and what `faas new` and `faas build` do
with them (docs/templates.md).

    template/<lang>/template.yml   language, fprocess, welcome_message
    template/<lang>/Dockerfile     builds the image from the assembled context
    template/<lang>/function/      the handler skeleton `faas new` copies

`faas build` assembles `build/<name>/` beside the definition file exactly as faas-cli
does: the template's files, then the handler's files over the template's `function/`.
The `dockerfile` language has no assembly: its handler folder is the build context.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from faas_cli.errors import UsageError

# Where templates are found: the flag or this variable, else ./template (as faas-cli
# looks), else the template/ folder of the checkout faas runs from.
TEMPLATE_DIR_ENV = "FAAS_TEMPLATE_DIR"
TEMPLATE_FOLDER = "template"
CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / TEMPLATE_FOLDER
# faas-cli's names: the assembled contexts, and the handler's folder inside one.
BUILD_FOLDER = "build"
FUNCTION_FOLDER = "function"
# The language whose handler folder is itself the build context (it has a Dockerfile).
DOCKERFILE_LANG = "dockerfile"
# A function's name is a DNS label: it names a service and a host.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DEFAULT_IMAGE_PREFIX = "localhost/faas"


@dataclass(frozen=True)
class Template:
    """One language template (template/<language>/)."""

    language: str
    path: Path
    fprocess: str | None = None
    welcome_message: str = ""

    @property
    def skeleton(self) -> Path:
        """The handler skeleton `faas new` copies."""
        return self.path / FUNCTION_FOLDER


def template_root(named: str | None = None, cwd: Path | None = None) -> Path:
    """The folder holding the templates (see `TEMPLATE_DIR_ENV`)."""
    chosen = named or os.environ.get(TEMPLATE_DIR_ENV)
    if chosen:
        root = Path(chosen)
        if not root.is_dir():
            raise UsageError(f"template folder {chosen!r} does not exist")
        return root
    local = (cwd or Path.cwd()) / TEMPLATE_FOLDER
    return local if local.is_dir() else CHECKOUT_TEMPLATES


def list_templates(root: Path) -> dict[str, Template]:
    """Every template under `root` (a folder with a template.yml), by language."""
    found: dict[str, Template] = {}
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        definition = folder / "template.yml"
        if not definition.is_file():
            continue
        try:
            document = yaml.safe_load(definition.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise UsageError(f"{definition}: invalid YAML: {error}") from None
        if not isinstance(document, Mapping):
            raise UsageError(f"{definition}: expected a mapping with 'language'")
        fprocess = document.get("fprocess")
        found[folder.name] = Template(
            language=folder.name,
            path=folder,
            fprocess=str(fprocess) if fprocess else None,
            welcome_message=str(document.get("welcome_message") or "").strip(),
        )
    return found


def find_template(root: Path, language: str) -> Template:
    """The template of `language`, else a `UsageError` naming those there are."""
    templates = list_templates(root)
    if language not in templates:
        known = ", ".join(templates) or "none"
        raise UsageError(f"no template for language {language!r} in {root} (it has: {known})")
    return templates[language]


def check_name(name: str) -> None:
    """A function name must be a DNS label (lower-case letters, digits, hyphens)."""
    if not _NAME.match(name):
        raise UsageError(
            f"{name!r} cannot name a function: use lower-case letters, digits and hyphens "
            "(at most 63, not starting or ending with a hyphen)"
        )


def new_function(stack: Path, name: str, template: Template, image_prefix: str) -> Path:
    """Copy `template`'s handler skeleton into <stack's folder>/<name>/ and add the function
    to `stack` (created if missing); the handler folder is returned.

    Refuses a name the file already defines or a folder that exists, before writing
    anything. The file gets text appended, so its comments and layout stay.
    """
    check_name(name)
    handler = stack.parent / name
    text = stack.read_text(encoding="utf-8") if stack.exists() else ""
    if text:
        _check_appendable(stack, text, name)
    if handler.exists():
        raise UsageError(f"{handler} already exists: choose another name or remove it")
    entry = {"lang": template.language, "handler": f"./{name}",
             "image": f"{image_prefix.rstrip('/')}/{name}:latest"}  # fmt: skip
    if text:
        indent = _function_indent(text)
        block = "".join(f"{indent}{indent}{key}: {value}\n" for key, value in entry.items())
        updated = text + ("" if text.endswith("\n") else "\n") + f"{indent}{name}:\n{block}"
        if _appended(updated, name) != entry:
            raise UsageError(f"{stack}: cannot append {name!r}: 'functions' is not the "
                             "file's last section; add it by hand")  # fmt: skip
    else:
        updated = yaml.safe_dump(
            {"version": 1.0, "provider": {"name": "openfaas", "gateway": "http://127.0.0.1:8080"},
             "functions": {name: entry}},
            sort_keys=False,
        )  # fmt: skip
    shutil.copytree(template.skeleton, handler)
    stack.write_text(updated, encoding="utf-8")
    return handler


def _check_appendable(stack: Path, text: str, name: str) -> None:
    try:
        functions = _functions_of(text)
    except yaml.YAMLError as error:
        raise UsageError(f"{stack}: invalid YAML: {error}") from None
    if name in functions:
        raise UsageError(f"{stack} already defines a function named {name!r}")


def _functions_of(text: str) -> dict[str, object]:
    document = yaml.safe_load(text) or {}
    functions = document.get("functions") if isinstance(document, dict) else None
    return dict(functions) if isinstance(functions, dict) else {}


def _appended(text: str, name: str) -> object:
    try:
        return _functions_of(text).get(name)
    except yaml.YAMLError:
        return None


def _function_indent(text: str) -> str:
    """The indentation of the function names under `functions:` (two spaces if none)."""
    found = re.search(r"^functions:[ \t]*\n(?:[ \t]*(?:#.*)?\n)*([ \t]+)\S", text, re.MULTILINE)
    return found.group(1) if found else "  "


def assemble_context(template: Template, handler: Path, context: Path) -> Path:
    """faas-cli's build context: `context` emptied, the template's files copied into it,
    then the handler's files over its function/ folder."""
    if not handler.is_dir():
        raise UsageError(f"the handler folder {handler} does not exist")
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(template.path, context)
    shutil.copytree(handler, context / FUNCTION_FOLDER, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules",
                                                  BUILD_FOLDER))  # fmt: skip
    return context


def context_digest(context: Path, build_args: Mapping[str, str]) -> str:
    """A hash of every file of a build context (names and contents) and the build
    arguments: the tag that tells one build of a function from the next."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key, value in sorted(build_args.items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()[:12]


def tagged(image: str, suffix: str) -> str:
    """`image` with `-suffix` appended to its tag (`latest` when it has none), as
    faas-cli's `--tag sha` names builds: repo:latest -> repo:latest-<suffix>."""
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = image, "latest"
    return f"{repository}:{tag}-{suffix}"


def requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file (none if it is missing)."""
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]
