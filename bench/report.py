"""Results: what was measured (runs), what it means against a target (checks), and output.

`Report.markdown()` renders the tables for the terminal and docs/benchmarks.md;
`Report.to_json()` is what lands in bench/results/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Verdict = Literal["PASS", "MISS", "info", "not run"]
DOC_START = "<!-- BENCH-RESULTS:START -->"
DOC_END = "<!-- BENCH-RESULTS:END -->"


@dataclass
class Run:
    """One subject under one load: medians over the rounds it was measured in."""

    scenario: str
    label: str
    concurrency: int | None
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    cpu_pct: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    rounds: int = 1
    samples_rps: list[float] = field(default_factory=list)
    samples_p50_ms: list[float] = field(default_factory=list)
    samples_p99_ms: list[float] = field(default_factory=list)
    samples_cpu_pct: list[dict[str, float]] = field(default_factory=list)
    """Each round's CPU use by label (% of a core), for ratios paired by round."""
    note: str = ""


@dataclass
class Check:
    """A target (or an informative comparison) with the measured value and its reference."""

    scenario: str
    what: str
    measured: str
    reference: str
    target: str
    verdict: Verdict


@dataclass
class Report:
    """Everything one `python -m bench` run found."""

    mode: str
    started: str
    machine: dict[str, str]
    runs: list[Run] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    swarm_elapsed_s: float | None = None
    """Seconds the swarm variants took (deploying included), when they ran."""

    def to_json(self) -> str:
        """The whole report as indented JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    def markdown(self) -> str:
        """Machine line, targets table, all-runs table, and problems, as markdown."""
        m = self.machine
        swarm_time = (
            "" if self.swarm_elapsed_s is None else f", swarm part {self.swarm_elapsed_s:.0f} s"
        )
        docker = f", {m['docker']}" if m.get("docker") else ""
        out = [
            f"Run {self.started} ({self.mode}, {self.elapsed_s:.0f} s{swarm_time}) on "
            f"{m.get('cpu', '?')}, "
            f"{m.get('cores', '?')} cores, {m.get('memory', '?')}, {m.get('os', '?')}, "
            f"Python {m.get('python', '?')}, {m.get('wrk', 'wrk')}{docker}; "
            f"load average before/after: {m.get('load_before', '?')} / {m.get('load_after', '?')}; "
            f"commit {m.get('commit', '?')}.",
            "",
            "| # | target / comparison | measured | reference (same run) | target | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for c in self.checks:
            verdict = {"PASS": "**PASS**", "MISS": "**MISS**"}.get(c.verdict, c.verdict)
            out.append(
                f"| {c.scenario} | {c.what} | {c.measured} | {c.reference} | {c.target} | "
                f"{verdict} |"
            )
        out += [
            "",
            "| # | subject | c | req/s | p50 ms | p99 ms | server CPU (% of a core) | errors "
            "| note |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in self.runs:
            cpu = ", ".join(f"{k} {v:.0f}" for k, v in r.cpu_pct.items()) or "—"
            out.append(
                f"| {r.scenario} | {r.label} | {_opt(r.concurrency)} | {_num(r.rps, 0)} | "
                f"{_num(r.p50_ms, 2)} | {_num(r.p99_ms, 2)} | {cpu} | {r.errors} | {r.note} |"
            )
        if self.problems:
            out += ["", "Problems:", ""] + [f"- {p}" for p in self.problems]
        return "\n".join(out) + "\n"

    def write(self, directory: Path) -> Path:
        """Write `<directory>/bench-<time>.json` and `latest.json`; return the first."""
        directory.mkdir(parents=True, exist_ok=True)
        stamp = self.started.replace(":", "").replace("-", "")
        path = directory / f"bench-{stamp}.json"
        text = self.to_json()
        path.write_text(text)
        (directory / "latest.json").write_text(text)
        return path


def update_doc(doc: Path, table: str) -> bool:
    """Replace the text between the BENCH-RESULTS markers in `doc`; False if none."""
    if not doc.exists():
        return False
    text = doc.read_text()
    start, end = text.find(DOC_START), text.find(DOC_END)
    if start < 0 or end < start:
        return False
    doc.write_text(text[: start + len(DOC_START)] + "\n" + table + text[end:])
    return True


def _opt(value: int | None) -> str:
    return "—" if value is None else str(value)


def _num(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def machine_description(wrk_line: str) -> dict[str, str]:
    """CPU, cores, memory, OS, kernel, Python, wrk, load average and git commit."""
    info: dict[str, str] = {
        "cores": str(os.cpu_count() or "?"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_line.split(" Copyright")[0],
        "load_before": load_average(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    git = shutil.which("git")
    if git:
        root = Path(__file__).resolve().parent.parent
        head = subprocess.run(
            [git, "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        info["commit"] = head + ("+changes" if dirty else "") if head else "?"
    return info


def load_average() -> str:
    """The 1-minute load average, a rough measure of how busy the machine was."""
    return f"{os.getloadavg()[0]:.2f}"
