"""Each language template's rate (issue 34): calls/s and latency at 1 and 16 connections
through the gateway on the swarm, against the same handler with nothing in front on this
machine: the template's own server for the http-mode templates, our watchdog forking the
same command for the fork-mode ones. That is the floor the platform's hops cost against.

    python -m bench.templates                      # every template that builds here
    python -m bench.templates --languages node --seconds 5

Needs the stack deployed (`make up`) and the management credentials in secrets/; wrk is
installed from Debian's package when absent. Each template is deployed as
bench-tmpl-<language> with `faas new` + `faas up` and removed afterwards. Prints a
Markdown table for docs/templates.md ("Rates").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import Server, base_env, start_watchdog
from bench.wrk import WrkResult, ensure_wrk, run_wrk
from faas_cli.templates import CHECKOUT_TEMPLATES, assemble_context, find_template
from tests.support import ROOT, StackSettings, free_port, script_defaults

# What builds on a machine that cannot pull (docs/templates.md): golang-http needs Go.
LANGUAGES = ["python3-http", "node", "python3", "bash-streaming"]
CONCURRENCIES = (1, 16)
DEFAULT_SECONDS = 10.0
BODY = b"ping"
# How the http-mode templates' servers start, with nothing in front of them.
SERVERS = {"python3-http": [sys.executable, "index.py"], "node": ["node", "index.js"]}
FORKED = {"python3": "python3 index.py", "bash-streaming": "bash function/handler.sh"}


def faas(folder: Path, *args: str) -> str:
    """Our CLI in `folder`, with the stack's gateway and credentials."""
    secrets = ROOT / "secrets"
    env = {**os.environ, "FAAS_GATEWAY": StackSettings.from_env().gateway_url,
           "FAAS_PASSWORD_FILE": str(secrets / "basic-auth-password")}  # fmt: skip
    user = secrets / "basic-auth-user"
    if user.exists():
        env["FAAS_USER"] = user.read_text().strip()
    done = subprocess.run([sys.executable, "-m", "faas_cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"faas {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def build_args(language: str) -> list[str]:
    """This machine's build arguments: the stack's watchdog; node's runtime image."""
    prefix = (
        os.environ.get("FUNCTION_IMAGE_PREFIX") or script_defaults()["FUNCTION_IMAGE_PREFIX"][1]
    )
    args = [f"WATCHDOG_IMAGE={prefix}/watchdog:latest"]
    if language == "node":
        base = subprocess.run([str(ROOT / "scripts" / "node-base.sh")], capture_output=True,
                              text=True, check=True, timeout=600).stdout.strip()  # fmt: skip
        args.append(f"BASE_IMAGE={base}")
    return [flag for arg in args for flag in ("--build-arg", arg)]


@contextmanager
def deployed(language: str, folder: Path) -> Iterator[str]:
    """The template's skeleton deployed through the gateway; its /function/ URL."""
    name = f"bench-tmpl-{language}"
    faas(folder, "new", "--lang", language, name)
    try:
        faas(folder, "up", *build_args(language), "--timeout", "300")
        yield f"{StackSettings.from_env().gateway_url}/function/{name}"
    finally:
        subprocess.run(["docker", "service", "rm", name], capture_output=True, check=False)


@contextmanager
def plain(language: str, folder: Path) -> Iterator[str]:
    """The same skeleton on this machine with nothing in front (see the module's doc)."""
    template = find_template(CHECKOUT_TEMPLATES, language)
    context = assemble_context(template, template.skeleton, folder / "plain" / language)
    if language in SERVERS:
        port = free_port()
        argv = [*SERVERS[language][:-1], str(context / SERVERS[language][-1])]
        env = base_env({"upstream_url": f"http://127.0.0.1:{port}"})
        server = Server(f"{language} server", argv, env, port, "/", folder / f"{language}.log")
    else:
        command, script = FORKED[language].rsplit(" ", 1)
        server = start_watchdog(folder, f"{command} {context / script}", name=language)
    with server.start() if language in SERVERS else server:
        yield server.base_url + "/"


def measure(wrk: str, url: str, seconds: float) -> list[WrkResult]:
    """One run per concurrency, after a short warm-up."""
    run_wrk(wrk, url, concurrency=1, duration_s=1, body=BODY)
    return [run_wrk(wrk, url, concurrency=c, duration_s=seconds, body=BODY) for c in CONCURRENCIES]


def row(language: str, through: list[WrkResult], floor: list[WrkResult]) -> str:
    cells = [language]
    for gateway, direct in zip(through, floor, strict=True):
        cells += [f"{gateway.rps:,.0f}", f"{gateway.p50_ms:.2f}", f"{direct.rps:,.0f}",
                  f"{gateway.rps / direct.rps:.0%}" if direct.rps else "-"]  # fmt: skip
    errors = sum(r.errors + r.non_2xx for r in through + floor)
    return "| " + " | ".join(cells) + f" | {errors} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    args = parser.parse_args()
    wrk = ensure_wrk()
    lines = [
        "| template | c=1 calls/s | c=1 p50 ms | c=1 plain calls/s | c=1 share "
        "| c=16 calls/s | c=16 p50 ms | c=16 plain calls/s | c=16 share | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        for language in args.languages.split(","):
            folder = Path(tmp) / language
            folder.mkdir()
            with deployed(language, folder) as url:
                through = measure(wrk, url, args.seconds)
            with plain(language, folder) as url:
                floor = measure(wrk, url, args.seconds)
            lines.append(row(language, through, floor))
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
