"""`faas`: create from templates, build, deploy, list, describe, invoke, scale and remove
functions.

Run `faas --help` or `faas COMMAND --help`. Settings come from flags, else environment
variables: FAAS_GATEWAY, FAAS_USER, FAAS_PASSWORD or FAAS_PASSWORD_FILE. Exit statuses:
0 done, 1 refused or failed (invoke: a non-2xx answer), 2 bad usage or definition file,
3 gateway unreachable, 4 bad credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

from faas_cli import __version__
from faas_cli.client import DEFAULT_GATEWAY
from faas_cli.definitions import DEFAULT_FILE
from faas_cli.develop import build_options, cmd_build, cmd_new, cmd_template, cmd_up
from faas_cli.errors import EXIT_FAILED, EXIT_OK, CliError, UsageError
from faas_cli.output import (
    print_function,
    print_functions,
    print_json,
    print_table,
    print_triggers,
)
from faas_cli.session import client_of, definitions_of, deploy_or_update, wait_until_ready

Command = Callable[[argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    try:
        return command(args, sys.stdout)
    except CliError as error:
        print(f"faas: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Every command and its flags (common flags are accepted after the command too)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-g", "--gateway", help=f"gateway URL (env FAAS_GATEWAY; default {DEFAULT_GATEWAY})"
    )
    common.add_argument("-u", "--user", help="user name (env FAAS_USER; default admin)")
    common.add_argument(
        "--password-file",
        help="file holding the password (env FAAS_PASSWORD_FILE; or set FAAS_PASSWORD)",
    )
    common.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the gateway (60)"
    )
    file_option = argparse.ArgumentParser(add_help=False)
    file_option.add_argument(
        "-f", "--file", default=None, help=f"functions definition file (default {DEFAULT_FILE})"
    )
    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = argparse.ArgumentParser(
        prog="faas",
        description="Manage functions on a faas gateway.",
        epilog="Exit status: 0 done, 1 refused or failed, 2 bad usage or definition file, "
        "3 gateway unreachable, 4 bad credentials.",
    )
    parser.add_argument("--version", action="version", version=f"faas {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Command, help_text: str, *parents: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=parents)
        sub.set_defaults(command=handler)
        return sub

    building = build_options()
    new = add("new", cmd_new, "create a function from a language template: its handler "
              "folder, and its entry in the definition file (created if missing)",
              file_option, building)  # fmt: skip
    new.add_argument("name", metavar="NAME")
    new.add_argument("--lang", required=True, help="the template (faas template list)")
    new.add_argument(
        "-p", "--prefix", help="image name prefix (env FUNCTION_IMAGE_PREFIX; localhost/faas)"
    )
    template = add("template", cmd_template, "the language templates", building)
    template.add_argument("action", choices=["list"])
    build = add("build", cmd_build, "build each function's image: from its language "
                "template (assembled in build/NAME/, as faas-cli does) or its own Dockerfile",
                file_option, building)  # fmt: skip
    build.add_argument("names", nargs="*", metavar="NAME", help="only these functions")
    build.add_argument(
        "--shrinkwrap", action="store_true", help="only assemble build/NAME/ (no docker)"
    )
    up = add("up", cmd_up, "build, push (when the image names a registry), deploy and wait "
             "until ready", common, file_option, building)  # fmt: skip
    up.add_argument("names", nargs="*", metavar="NAME", help="only these functions")
    up.add_argument(
        "--watch", action="store_true",
        help="then, on every saved change to a handler, rebuild and roll that function",
    )  # fmt: skip
    deploy = add(
        "deploy", cmd_deploy, "deploy (or update, rolling) the functions of a definition file",
        common, file_option,
    )  # fmt: skip
    deploy.add_argument("names", nargs="*", metavar="NAME", help="only these functions")
    deploy.add_argument(
        "--version", dest="function_version", metavar="VERSION",
        help="deploy as this version of each function: its own service beside the running "
        "versions (docs/versions.md)",
    )  # fmt: skip
    deploy.add_argument(
        "--weight", type=int, metavar="PERCENT",
        help="with --version: the percentage of calls the new version gets at once (0)",
    )  # fmt: skip
    deploy.add_argument(
        "--wait",
        action="store_true",
        help="wait until each function has a ready replica (after an update: until the "
        "rolling update has completed)",
    )
    remove = add(
        "remove", cmd_remove, "remove functions: the named ones, or those of the file",
        common, file_option,
    )  # fmt: skip
    remove.add_argument("names", nargs="*", metavar="NAME")
    add("list", cmd_list, "list the functions", common, json_option)
    describe = add("describe", cmd_describe, "show one function", common, json_option)
    describe.add_argument("name", metavar="NAME")
    invoke = add(
        "invoke", cmd_invoke, "call a function: standard input is the body, the answer "
        "goes to standard output (exit 1 on a non-2xx answer)", common,
    )  # fmt: skip
    invoke.add_argument("name", metavar="NAME")
    invoke.add_argument("-X", "--method", default="POST", help="HTTP method (POST)")
    invoke.add_argument(
        "-H", "--header", action="append", default=[], metavar="NAME:VALUE", help="add a header"
    )
    invoke.add_argument(
        "--async", dest="queued", action="store_true",
        help="queue the call (/async-function/) and print its call id",
    )  # fmt: skip
    invoke.add_argument(
        "--callback", metavar="URL", help="with --async: where the result is POSTed"
    )
    calls = add(
        "async", cmd_async, "async calls: a call's status, the dead-letter queue", common,
        json_option,
    )  # fmt: skip
    calls.add_argument(
        "action", choices=["status", "dlq"], help="status CALL_ID, or dlq list|show|redrive|purge"
    )
    calls.add_argument("rest", nargs="*", metavar="ARG")
    calls.add_argument("--all", action="store_true", help="dlq redrive/purge: every call")
    trigger = add(
        "trigger", cmd_trigger, "event triggers: list them (with the next cron runs), or "
        "fire one once now as an async call", common, json_option,
    )  # fmt: skip
    trigger.add_argument("action", choices=["list", "fire"], help="list, or fire NAME [TRIGGER]")
    trigger.add_argument("rest", nargs="*", metavar="ARG")
    traffic = add(
        "traffic", cmd_traffic, "set the weights of a function's versions (VERSION=PERCENT "
        "..., summing to 100), or promote one, or roll back to the weights before", common,
    )  # fmt: skip
    traffic.add_argument("name", metavar="NAME")
    traffic.add_argument("weights", nargs="*", metavar="VERSION=PERCENT")
    traffic.add_argument("--promote", metavar="VERSION", help="send every call to VERSION")
    traffic.add_argument(
        "--rollback", action="store_true", help="the weights before the last change"
    )
    canary = add(
        "canary", cmd_canary, "shift calls to a version step by step; the gateway rolls "
        "back by itself when a step breaks a bound", common,
    )  # fmt: skip
    canary.add_argument("name", metavar="NAME")
    canary.add_argument("--to", metavar="VERSION", help="the version calls shift to")
    canary.add_argument("--step", type=int, default=10, help="points of weight per step (10)")
    canary.add_argument("--every", default="30s", help="time between steps (30s)")
    canary.add_argument(
        "--max-error-rate", default="1%", help="most 5xx answers per call in a step (1%%)"
    )
    canary.add_argument("--max-latency", metavar="SECONDS", help="most p99 latency in a step")
    canary.add_argument("--abort", action="store_true", help="stop it: the weights before it")
    scale = add("scale", cmd_scale, "set a function's replicas", common)
    scale.add_argument("name", metavar="NAME")
    scale.add_argument("replicas", type=int, metavar="N")
    logs = add(
        "logs", cmd_logs, "print what a function's replicas wrote to stdout and stderr",
        common, json_option,
    )  # fmt: skip
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("--tail", type=int, metavar="N", help="at most N lines, the newest (1000)")
    logs.add_argument(
        "--since", metavar="WHEN", help="only newer lines: an age such as 90s, 10m, 2h, or an "
        "RFC 3339 time",
    )  # fmt: skip
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)"
    )
    add("info", cmd_info, "the gateway's provider, orchestration and version", common, json_option)
    return parser


# Commands.


def cmd_deploy(args: argparse.Namespace, out: TextIO) -> int:
    definitions = definitions_of(args)
    selected = definitions.select(args.names)
    with client_of(args, definitions) as client:
        updated: set[str] = set()
        if args.weight is not None and not args.function_version:
            raise UsageError("--weight: only with --version")
        for function in selected:
            body = function.deployment()
            if args.function_version:
                body["version"] = args.function_version
                if args.weight is not None:
                    body["weight"] = args.weight
            if deploy_or_update(client, body, out):
                updated.add(function.name)
        if args.wait:
            for function in selected:
                wait_until_ready(
                    client, function.name, args.timeout, out, updated=function.name in updated
                )
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, out: TextIO) -> int:
    names: list[str] = args.names
    definitions = None
    if args.file or not names:
        definitions = definitions_of(args)
        names = [function.name for function in definitions.select(names)]
    with client_of(args, definitions) as client:
        for name in names:
            client.remove(name)
            out.write(f"removed {name}\n")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    with client_of(args) as client:
        functions = client.list_functions()
    if args.json:
        print_json(functions, out)
    else:
        print_functions(functions, out)
    return EXIT_OK


def cmd_describe(args: argparse.Namespace, out: TextIO) -> int:
    with client_of(args) as client:
        function = client.describe(args.name)
        gateway = client.gateway
    if args.json:
        print_json(function, out)
    else:
        print_function(function, out, gateway)
    return EXIT_OK


def cmd_logs(args: argparse.Namespace, out: TextIO) -> int:
    if args.tail is not None and args.tail < 1:
        raise UsageError("--tail: expected a whole number of at least 1")
    since = _since(args.since) if args.since else None
    with client_of(args) as client:
        for record in client.logs(args.name, tail=args.tail, since=since, follow=args.follow):
            if args.json:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                out.write(f"{record.get('timestamp', '')} {record.get('instance', '')} "
                          f"{record.get('text', '')}\n")  # fmt: skip
            out.flush()
    return EXIT_OK


def _since(value: str) -> str:
    """`--since`: an age (`90s`, `10m`, `2h`, `1d`) as an RFC 3339 time, or a time as given."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = value[:-1], value[-1:]
    if unit in units and number.replace(".", "", 1).isdigit():
        moment = datetime.now(UTC) - timedelta(seconds=float(number) * units[unit])
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(
            f"--since: expected an age such as 10m or an RFC 3339 time with a zone, got {value!r}"
        )
    return value


def cmd_invoke(args: argparse.Namespace, out: TextIO) -> int:
    headers: dict[str, str] = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header: expected NAME:VALUE, got {header!r}")
        headers[name.strip()] = value.strip()
    if args.callback:
        if not args.queued:
            raise UsageError("--callback: only with --async")
        headers["X-Callback-Url"] = args.callback
    body = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    with client_of(args) as client:
        reply = client.invoke(
            args.name, body, method=args.method.upper(), headers=headers, queued=args.queued
        )
    if args.queued and reply.status_code == 202:
        out.write(f"{reply.headers.get('X-Call-Id', '')}\n")
        return EXIT_OK
    if reply.is_success:
        out.flush()
        sys.stdout.buffer.write(reply.content)
        sys.stdout.buffer.flush()
        return EXIT_OK
    detail = reply.text.strip()[:500]
    print(f"faas: {args.name} answered {reply.status_code}: {detail}", file=sys.stderr)
    return EXIT_FAILED


def cmd_trigger(args: argparse.Namespace, out: TextIO) -> int:
    rest: list[str] = args.rest
    with client_of(args) as client:
        if args.action == "list":
            if rest:
                raise UsageError("trigger list: no arguments")
            listed = client.triggers()
            if args.json:
                print_json(listed, out)
            else:
                print_triggers(listed["triggers"], out)
                for problem in listed.get("problems", []):
                    out.write(f"invalid: {problem}\n")
            return EXIT_OK
        if not 1 <= len(rest) <= 2:
            raise UsageError("trigger fire: expected NAME [TRIGGER]")
        fired = client.fire(rest[0], rest[1] if len(rest) == 2 else None)
        if args.json:
            print_json(fired, out)
        else:
            out.write(f"{fired['callId']}\n")
        return EXIT_OK


def cmd_async(args: argparse.Namespace, out: TextIO) -> int:
    rest: list[str] = args.rest
    with client_of(args) as client:
        if args.action == "status":
            if len(rest) != 1:
                raise UsageError("async status: expected one CALL_ID")
            record = client.async_status(rest[0])
            if args.json:
                print_json(record, out)
            else:
                fields = ("state", "attempt", "status", "durationSeconds", "error", "body")
                print_table(("FIELD", "VALUE"), [(f, str(record.get(f, ""))) for f in fields], out)
            return EXIT_OK
        verb, names = (rest[0], rest[1:]) if rest else ("list", [])
        if verb == "list":
            listed = client.dead_letters()
            if args.json:
                print_json(listed, out)
            else:
                rows = [
                    (
                        c["callId"],
                        c["function"],
                        str(c["attempts"]),
                        str(c["status"]),
                        c["error"] or "",
                    )
                    for c in listed["calls"]
                ]
                print_table(("CALL ID", "FUNCTION", "ATTEMPTS", "STATUS", "ERROR"), rows, out)
            return EXIT_OK
        if verb == "show" and len(names) == 1:
            print_json(client.dead_letter(names[0]), out)
            return EXIT_OK
        if verb in ("redrive", "purge") and len(names) + args.all == 1:
            call_id = None if args.all else names[0]
            done = (
                client.redrive(call_id) if verb == "redrive" else client.purge_dead_letters(call_id)
            )
            print_json(done, out)
            return EXIT_OK
    raise UsageError(
        "async dlq: expected list, show CALL_ID, redrive CALL_ID|--all, purge CALL_ID|--all"
    )


def cmd_traffic(args: argparse.Namespace, out: TextIO) -> int:
    chosen = bool(args.weights) + bool(args.promote) + args.rollback
    if chosen != 1:
        raise UsageError("traffic: give VERSION=PERCENT pairs, or --promote VERSION, or --rollback")
    with client_of(args) as client:
        if args.promote:
            reply = client.promote(args.name, args.promote)
        elif args.rollback:
            reply = client.rollback(args.name)
        else:
            reply = client.set_traffic(args.name, _weights(args.weights))
    weights = reply.get("weights", {})
    out.write(f"{args.name}: " + " ".join(f"{v}={w}" for v, w in sorted(weights.items())) + "\n")
    return EXIT_OK


def _weights(pairs: Sequence[str]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for pair in pairs:
        version, sep, number = pair.partition("=")
        if not sep or not number.strip().isdigit():
            raise UsageError(f"traffic: expected VERSION=PERCENT, got {pair!r}")
        weights[version.strip()] = int(number)
    return weights


def cmd_canary(args: argparse.Namespace, out: TextIO) -> int:
    with client_of(args) as client:
        if args.abort:
            reply = client.canary(args.name, None)
            out.write(f"{args.name}: canary stopped; weights {reply.get('weights', {})}\n")
            return EXIT_OK
        if not args.to:
            raise UsageError("canary: --to VERSION is required (or --abort)")
        rate = args.max_error_rate.strip()
        try:
            error_rate = float(rate[:-1]) / 100 if rate.endswith("%") else float(rate)
        except ValueError:
            message = f"--max-error-rate: expected a percentage such as 1%, got {rate!r}"
            raise UsageError(message) from None
        request: dict[str, object] = {
            "to": args.to, "step": args.step, "every": args.every, "maxErrorRate": error_rate,
        }  # fmt: skip
        if args.max_latency:
            request["maxLatency"] = float(args.max_latency)
        client.canary(args.name, request)
    out.write(f"{args.name}: canary to {args.to} started: +{args.step}% every {args.every} "
              f"while the error rate stays at most {error_rate:.2%}\n")  # fmt: skip
    return EXIT_OK


def cmd_scale(args: argparse.Namespace, out: TextIO) -> int:
    with client_of(args) as client:
        client.scale(args.name, args.replicas)
    out.write(f"scaling {args.name} to {args.replicas}\n")
    return EXIT_OK


def cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    with client_of(args) as client:
        info = client.info()
    if args.json:
        print_json(info, out)
    else:
        provider = info.get("provider", {})
        rows = [
            ("gateway", client.gateway),
            ("provider", provider.get("provider", "")),
            ("orchestration", provider.get("orchestration", "")),
            ("version", info.get("version", {}).get("release", "")),
        ]
        print_table(("FIELD", "VALUE"), rows, out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
