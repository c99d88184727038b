"""scripts/common.sh: the address a swarm advertises, and what counts as faas's own swarm.

The functions run in bash with fake `docker` and `ip` commands first on PATH, each
answering as a real one did on some machine: a bridge that reports its gateway, one that
does not (seen on CI's machines), no bridge at all.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# `docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}'`
BRIDGE_WITH_GATEWAY = "172.17.0.1 "
BRIDGE_WITHOUT_GATEWAY = " "
# `ip -4 -o addr show dev docker0`
DOCKER0 = "3: docker0    inet 172.18.0.1/16 brd 172.18.255.255 scope global docker0\\n"
# `ip -4 route show default` and `ip -4 -o addr show dev eth0`
DEFAULT_ROUTE = "default via 192.0.2.1 dev eth0 \\n"
ETH0 = "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\n"


def fake_commands(
    folder: Path,
    *,
    bridge: str | None,
    docker0: str = "",
    route: str = "",
    eth0: str = "",
    services: dict[str, str] | None = None,
    other_nodes: tuple[str, ...] = (),
    swarm: str = "active 127.0.0.1",
) -> None:
    """Write `docker` and `ip` scripts into folder answering as given (None: no bridge)."""
    service_lines = "".join(f"{name}\\n" for name in services or {})
    labels = "".join(
        f'    {name}) printf "{value}\\n" ;;\n' for name, value in (services or {}).items()
    )
    nodes = "true manager\\n" + "".join(f"false {name}\\n" for name in other_nodes)
    bridge_answer = "exit 1" if bridge is None else f'printf "{bridge}"'
    state, address = swarm.split()
    calls = folder / "calls"
    docker = f"""\
        #!/bin/bash
        case "$1 $2" in
          "network inspect") {bridge_answer} ;;
          "info --format")
            case "$3" in
              *LocalNodeState*) echo {state} ;;
              *NodeAddr*) echo {address} ;;
            esac ;;
          "swarm leave"|"swarm init") echo "$*" >>{calls} ;;
          "node ls") printf "{nodes}" ;;
          "service ls") printf "{service_lines}" ;;
          "service inspect")
            case "$3" in
        {labels}    esac ;;
          *) echo "fake docker: unexpected $*" >&2; exit 2 ;;
        esac
        """
    ip = f"""\
        #!/bin/bash
        case "$*" in
          "-4 -o addr show dev docker0") printf "{docker0}" ;;
          "-4 -o addr show dev eth0") printf "{eth0}" ;;
          "-4 route show default") printf "{route}" ;;
          *) exit 1 ;;
        esac
        """
    for name, text in (("docker", docker), ("ip", ip)):
        path = folder / name
        path.write_text(textwrap.dedent(text))
        path.chmod(0o755)


def run_common(folder: Path, function: str) -> subprocess.CompletedProcess[str]:
    """Source scripts/common.sh and run one of its functions with the fakes first on PATH."""
    env = {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "FAAS_TAG": "test"}
    env.pop("SWARM_ADVERTISE_ADDR", None)
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "$1"; {function}', "bash", "scripts/common.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_bridge_gateway_when_the_engine_reports_it(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=BRIDGE_WITH_GATEWAY, docker0=DOCKER0)
    assert run_common(tmp_path, "swarm_address").stdout == "172.17.0.1\n"


def test_docker0_when_the_bridge_reports_no_gateway(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=BRIDGE_WITHOUT_GATEWAY, docker0=DOCKER0)
    assert run_common(tmp_path, "swarm_address").stdout == "172.18.0.1\n"


def test_an_ipv6_gateway_is_passed_over(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge="fd00::1 ", docker0=DOCKER0)
    assert run_common(tmp_path, "swarm_address").stdout == "172.18.0.1\n"


def test_the_default_route_when_there_is_no_bridge(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=None, route=DEFAULT_ROUTE, eth0=ETH0)
    assert run_common(tmp_path, "swarm_address").stdout == "192.0.2.2\n"


def test_no_address_fails_and_never_says_loopback(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=None)
    result = run_common(tmp_path, "swarm_address")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "no address other nodes can reach" in result.stderr
    assert "SWARM_ADVERTISE_ADDR" in result.stderr


def test_a_loopback_gateway_is_not_an_answer(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge="127.0.0.1 ", docker0=DOCKER0)
    assert run_common(tmp_path, "swarm_address").stdout == "172.18.0.1\n"


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param("func ", id="in-the-stack"),
        pytest.param(" true", id="deployed-through-the-gateway"),
    ],
)
def test_a_swarm_of_faas_services_has_nothing_foreign(tmp_path: Path, labels: str) -> None:
    fake_commands(tmp_path, bridge=BRIDGE_WITH_GATEWAY, services={"func_gateway": labels})
    result = run_common(tmp_path, "swarm_foreign_content")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_other_services_and_nodes_are_foreign(tmp_path: Path) -> None:
    fake_commands(
        tmp_path,
        bridge=BRIDGE_WITH_GATEWAY,
        services={"func_gateway": "func ", "postgres": "other ", "web": " "},
        other_nodes=("laptop",),
    )
    result = run_common(tmp_path, "swarm_foreign_content")
    assert result.stdout.splitlines() == ["node laptop", "service postgres", "service web"]


def swarm_calls(folder: Path) -> list[str]:
    """The `docker swarm ...` commands the fake engine was given."""
    calls = folder / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_no_swarm_is_initialised_on_the_address_found(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=BRIDGE_WITHOUT_GATEWAY, docker0=DOCKER0, swarm="inactive -")
    result = run_common(tmp_path, "ensure_swarm")
    assert result.returncode == 0, result.stderr
    assert swarm_calls(tmp_path) == ["swarm init --advertise-addr 172.18.0.1"]


def test_a_loopback_swarm_of_faas_is_made_again(tmp_path: Path) -> None:
    fake_commands(
        tmp_path, bridge=BRIDGE_WITHOUT_GATEWAY, docker0=DOCKER0, services={"func_gateway": "func "}
    )
    result = run_common(tmp_path, "ensure_swarm")
    assert result.returncode == 0, result.stderr
    assert swarm_calls(tmp_path) == [
        "swarm leave --force",
        "swarm init --advertise-addr 172.18.0.1",
    ]
    assert "re-creating it" in result.stderr


def test_a_loopback_swarm_holding_other_services_is_left_with_advice(tmp_path: Path) -> None:
    fake_commands(
        tmp_path, bridge=BRIDGE_WITHOUT_GATEWAY, docker0=DOCKER0, services={"postgres": " "}
    )
    result = run_common(tmp_path, "ensure_swarm")
    assert result.returncode == 1
    assert swarm_calls(tmp_path) == []
    assert "service postgres" in result.stderr
    assert "docker swarm leave --force && scripts/engine.sh" in result.stderr


def test_a_swarm_on_a_reachable_address_is_left_alone(tmp_path: Path) -> None:
    fake_commands(tmp_path, bridge=BRIDGE_WITH_GATEWAY, swarm="active 172.17.0.1")
    result = run_common(tmp_path, "ensure_swarm")
    assert result.returncode == 0, result.stderr
    assert swarm_calls(tmp_path) == []
