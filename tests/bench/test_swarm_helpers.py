"""Pure helpers of the swarm benchmarks: engine objects in, plain values out (no Docker)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.fleet import (
    BENCH_LABEL,
    FunctionTemplate,
    fleet_names,
    service_definition,
    template_from_spec,
)
from bench.large import TransferResult, result_from_json, result_to_json
from bench.swarm import metric_function_names
from bench.swarm_stack import (
    SwarmConfig,
    TaskEndpoint,
    function_port,
    is_function,
    nsenter_prefix,
    pid_in_container,
    task_endpoint,
)


def _attachment(network: str, *addresses: str) -> dict[str, Any]:
    return {"Network": {"Spec": {"Name": network}}, "Addresses": list(addresses)}


def _task(state: str = "running", pid: int = 4242, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Status": {
            "State": state,
            "ContainerStatus": {"ContainerID": "c0ffee", "PID": pid, "ExitCode": 0},
        },
        "NetworksAttachments": [
            _attachment("ingress", "10.0.0.9/24"),
            _attachment("functions", "10.0.2.7/24", "10.0.2.8/24"),
        ],
    }
    task.update(extra)
    return task


def test_task_endpoint_takes_the_address_on_the_functions_network() -> None:
    endpoint = task_endpoint(_task(), "func_catservice", "functions")
    assert endpoint == TaskEndpoint("func_catservice", "c0ffee", 4242, "10.0.2.7")


def test_task_endpoint_without_an_address_on_that_network() -> None:
    endpoint = task_endpoint(_task(), "func_catservice", "other")
    assert endpoint is not None
    assert endpoint.ip is None


@pytest.mark.parametrize(
    "task",
    [
        _task(state="starting"),
        _task(state="shutdown"),
        _task(pid=0),
        {"Status": {"State": "running"}},
        {},
    ],
)
def test_task_endpoint_ignores_tasks_that_do_not_run(task: dict[str, Any]) -> None:
    assert task_endpoint(task, "func_catservice", "functions") is None


def test_nsenter_prefix_enters_only_the_network_namespace() -> None:
    assert nsenter_prefix(123) == ["nsenter", "--target=123", "--net", "--"]
    assert nsenter_prefix(7, "/usr/bin/nsenter")[0] == "/usr/bin/nsenter"


@pytest.mark.parametrize(
    ("labels", "port"),
    [({}, 8080), ({"com.faas.port": "9000"}, 9000), ({"com.faas.port": "x"}, 8080)],
)
def test_function_port(labels: dict[str, str], port: int) -> None:
    assert function_port(labels) == port


def test_function_port_rejects_out_of_range() -> None:
    assert function_port({"com.faas.port": "70000"}) == 8080


def test_pid_in_container() -> None:
    cgroup = "12:cpuacct:/docker/abc123def\n0::/docker/abc123def\n"
    assert pid_in_container(cgroup, "abc123def")
    assert not pid_in_container(cgroup, "fff")
    assert not pid_in_container(cgroup, "")


def test_swarm_config_defaults_and_overrides() -> None:
    assert SwarmConfig.from_env({}) == SwarmConfig("func", "functions", 8080)
    # Empty is unset, as in scripts/common.sh's ${NAME:-default}.
    assert SwarmConfig.from_env({"GATEWAY_PORT": "", "STACK_NAME": ""}) == SwarmConfig.from_env({})
    config = SwarmConfig.from_env(
        {"STACK_NAME": "s", "FUNCTIONS_NETWORK": "fn", "FAAS_GATEWAY_PORT": "9080"}
    )
    assert config == SwarmConfig("s", "fn", 9080)
    # The old name still works; the new one wins.
    assert SwarmConfig.from_env({"GATEWAY_PORT": "9081"}).gateway_port == 9081
    both = {"GATEWAY_PORT": "9081", "FAAS_GATEWAY_PORT": "9082"}
    assert SwarmConfig.from_env(both).gateway_port == 9082
    assert config.host_url == "http://127.0.0.1:9080"
    assert config.service_name("catservice") == "s_catservice"


@pytest.mark.parametrize("port", ["abc", "0", "65536"])
def test_swarm_config_names_a_bad_port(port: str) -> None:
    with pytest.raises(ValueError, match=r"^FAAS_GATEWAY_PORT="):
        SwarmConfig.from_env({"FAAS_GATEWAY_PORT": port})


def test_template_from_spec_copies_image_env_and_port_only() -> None:
    spec = {
        "Labels": {"com.docker.stack.namespace": "func", "com.faas.port": "8081"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "localhost/faas/catservice:abc",
                "Env": ["fprocess=cat"],
                "Labels": {"com.docker.stack.namespace": "func"},
            }
        },
    }
    template = template_from_spec(spec)
    assert template == FunctionTemplate("localhost/faas/catservice:abc", ("fprocess=cat",), "8081")


def test_template_from_spec_needs_an_image() -> None:
    with pytest.raises(ValueError, match="image"):
        template_from_spec({"TaskTemplate": {"ContainerSpec": {}}})


def test_fleet_names() -> None:
    assert fleet_names(3) == ["bench-fn000", "bench-fn001", "bench-fn002"]
    names = fleet_names(200)
    assert len(set(names)) == 200
    assert names[-1] == "bench-fn199"
    assert fleet_names(1001)[-1] == "bench-fn1000"


def test_service_definition_is_a_labelled_dnsrr_function() -> None:
    template = FunctionTemplate("img:1", ("a=b",), "8081")
    definition = service_definition("bench-fn007", template, "functions", 0)
    assert definition["name"] == "bench-fn007"
    assert definition["labels"] == {BENCH_LABEL: "1", "com.faas.port": "8081"}
    assert definition["mode"] == {"Replicated": {"Replicas": 0}}
    assert definition["endpoint_spec"] == {"Mode": "dnsrr"}
    task = definition["task_template"]
    assert task["Networks"] == [{"Target": "functions"}]
    container = task["ContainerSpec"]
    assert container["Image"] == "img:1"
    assert container["Env"] == ["a=b"]
    assert container["Labels"] == {BENCH_LABEL: "1"}
    assert container["Healthcheck"] == {"Test": ["NONE"]}
    assert "com.docker.stack.namespace" not in definition["labels"]


def test_service_definition_without_port_or_env() -> None:
    definition = service_definition("x", FunctionTemplate("img"), "functions", 1)
    assert definition["labels"] == {BENCH_LABEL: "1"}
    assert "Env" not in definition["task_template"]["ContainerSpec"]


def test_metric_function_names() -> None:
    exposition = (
        "# HELP gateway_function_invocation_total Calls\n"
        'gateway_function_invocation_total{function_name="func_catservice",code="200"} 3.0\n'
        'gateway_functions_seconds_bucket{function_name="bench-fn001",code="503",le="0.1"} 1\n'
        'gateway_service_count{function_name="func_catservice"} 1.0\n'
        "process_cpu_seconds_total 1.5\n"
    )
    assert metric_function_names(exposition) == {"func_catservice", "bench-fn001"}


def test_transfer_result_json_round_trip() -> None:
    result = TransferResult(status=200, sent=10, received=10, elapsed_s=0.5)
    assert result_from_json(result_to_json(result)) == result


def test_is_function_follows_the_gateway_rule() -> None:
    def spec(networks: list[str], **labels: str) -> dict[str, Any]:
        return {
            "Labels": labels,
            "TaskTemplate": {"Networks": [{"Target": n} for n in networks]},
        }

    targets = {"functions", "netid"}
    assert is_function(spec(["netid"]), targets)
    assert is_function(spec(["functions"]), targets)
    assert not is_function(spec(["monitoring"]), targets)
    assert not is_function(spec(["netid"], **{"com.faas.function": "false"}), targets)
    assert not is_function({}, targets)
