"""README.md's configuration tables list every variable the code reads, and no other.

The code's side is found, not listed: the variables `load_config` of the gateway and of the
watchdog look up (recorded through the mapping they read), any `os.environ.get("NAME")`
elsewhere in their sources, and the `${NAME...}` substitutions of stack.yml and the scripts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from fwatchdog.config import load_config as load_watchdog_config

from gateway.config import load_config as load_gateway_config

ROOT = Path(__file__).resolve().parents[1]

# Set by scripts/up.sh just before the deploy (hashes that rename changed secrets and
# configs), and a guard inside scripts/engine.sh: nobody sets these.
NOT_SETTINGS = {"BASIC_AUTH_HASH", "PROMETHEUS_CONFIG_HASH", "FRONT_CONFIG_HASH", "APT_UPDATED"}
# The system's own, read by the watchdog to find `fprocess`.
SYSTEM = {"PATH"}


class RecordingEnvironment(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


def gateway_variables() -> set[str]:
    env = RecordingEnvironment({})
    load_gateway_config(env)
    return env.read


def watchdog_variables() -> set[str]:
    env = RecordingEnvironment({"fprocess": "cat", "PATH": "/usr/bin:/bin"})
    load_watchdog_config(env)
    return env.read - SYSTEM


def variables_read_elsewhere() -> set[str]:
    """`os.environ.get("NAME")` or `os.getenv("NAME")` in the gateway's and the watchdog's
    sources (the Docker SDK's DOCKER_HOST)."""
    pattern = re.compile(r"""(?:environ\.get|getenv)\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
    sources = [*(ROOT / "gateway").rglob("*.py"), *(ROOT / "watchdog").rglob("*.py")]
    return {name for path in sources for name in pattern.findall(path.read_text())}


def stack_and_script_variables() -> set[str]:
    """Every `${NAME}` stack.yml substitutes and every `${NAME:-default}` a script reads."""
    substituted = re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "stack.yml").read_text())
    defaulted = {
        name
        for path in (ROOT / "scripts").glob("*.sh")
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*):?-", path.read_text())
    }
    return (set(substituted) | defaulted) - NOT_SETTINGS


def readme_variables() -> set[str]:
    """The names in the first column of the tables under README.md's "Configuration"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1]))
    return names


def variables_in_code() -> set[str]:
    return (
        gateway_variables()
        | watchdog_variables()
        | variables_read_elsewhere()
        | stack_and_script_variables()
    )


def test_every_variable_read_is_in_the_readme() -> None:
    assert sorted(variables_in_code() - readme_variables()) == []


def test_every_variable_in_the_readme_is_read() -> None:
    assert sorted(readme_variables() - variables_in_code()) == []


def test_the_code_sides_are_found() -> None:
    # A broken finder would make both tests above pass on nothing.
    assert {"GATEWAY_PORT", "GATEWAY_HOLD_TIMEOUT", "GATEWAY_BASIC_AUTH_USER_FILE"} <= (
        gateway_variables()
    )
    assert {"fprocess", "exec_timeout", "suppress_lock"} <= watchdog_variables()
    assert "DOCKER_HOST" in variables_read_elsewhere()
    assert {"FAAS_GATEWAY_PORT", "GATEWAY_PORT", "STACK_NAME"} <= stack_and_script_variables()
