"""The locks pin what pyproject.toml declares, with hashes, and this virtualenv is the lock
(README, "Dependencies")."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT

GATEWAY_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
FIX = "change pyproject.toml's range or run `make lock` (README, 'Dependencies')"


@dataclass(frozen=True)
class Pin:
    """One package of a lock file."""

    version: str
    marker: Marker | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """The lock's pins by canonical name (uv's `--generate-hashes` format)."""
    pins: dict[str, Pin] = {}
    name = ""
    for line in path.read_text().splitlines():
        entry = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if entry:
            name = canonicalize_name(entry[1])
            marker = Marker(entry[3]) if entry[3] else None
            pins[name] = Pin(entry[2], marker, ())
        elif line.strip().startswith("--hash=") and name:
            pin = pins[name]
            hashes = (*pin.hashes, line.strip().removeprefix("--hash=").rstrip(" \\"))
            pins[name] = Pin(pin.version, pin.marker, hashes)
    return pins


def declared(extra: str | None = None) -> list[Requirement]:
    """pyproject.toml's dependencies, or those of one of its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


@pytest.mark.parametrize("lock", [GATEWAY_LOCK, DEV_LOCK], ids=lambda path: path.name)
def test_every_pin_has_a_hash(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins, f"{lock.name} has no pins"
    assert [name for name, pin in pins.items() if not pin.hashes] == []


@pytest.mark.parametrize(
    ("lock", "extras"),
    [(GATEWAY_LOCK, [None]), (DEV_LOCK, [None, "dev"])],
    ids=["requirements.lock", "requirements-dev.lock"],
)
def test_the_declared_ranges_are_pinned(lock: Path, extras: list[str | None]) -> None:
    pins = read_lock(lock)
    wrong = []
    for extra in extras:
        for requirement in declared(extra):
            pin = pins.get(canonicalize_name(requirement.name))
            if pin is None:
                wrong.append(f"{requirement} is not in {lock.name}")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                wrong.append(f"{requirement} but {lock.name} pins {pin.version}")
    assert not wrong, f"{'; '.join(wrong)}: {FIX}"


def test_the_gateway_runs_the_versions_ci_tested() -> None:
    dev = read_lock(DEV_LOCK)
    differ = [
        f"{name} {pin.version} (dev: {dev[name].version if name in dev else 'none'})"
        for name, pin in read_lock(GATEWAY_LOCK).items()
        if name not in dev or dev[name].version != pin.version
    ]
    assert not differ, f"requirements.lock differs from requirements-dev.lock: {differ}; {FIX}"


def test_this_environment_is_the_development_lock() -> None:
    differ = []
    for name, pin in read_lock(DEV_LOCK).items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "none"
        if installed != pin.version:
            differ.append(f"{name} {installed} (locked: {pin.version})")
    assert not differ, (
        f"installed packages differ from requirements-dev.lock: {differ}; run `make venv`"
    )
