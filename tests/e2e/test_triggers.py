"""Event triggers on the real stack (issue 32, docs/triggers.md): a per-second schedule
runs once per tick with two triggers replicas and across a leader change; a failing
scheduled run is retried and dead-lettered; a NATS publish and an MQTT publish call every
subscribing function; a connector killed mid-stream loses no message; a bad schedule is
refused at deploy.

UNRUN: written by a helper that may not run the swarm suite; the lead runs it. The MQTT
test needs the stack deployed with `MQTT=1` (it skips without the mosquitto service).
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import (
    FaasCli,
    Platform,
    ServiceFactory,
    credentials,
    docker,
    wait_for,
)
from tests.e2e.test_faas_cli_compat import cli

__all__ = ["cli"]  # faas-cli, logged in (a fixture)

IMAGE = "localhost/faas/catservice:latest"
# Appends the tick it was fired for (X-Scheduled-Time) to a file in its container.
RECORDS_TICKS = "sh -c 'echo $Http_X_Scheduled_Time >> /tmp/ticks'"
# Appends the message's body and a newline in one write (calls run side by side).
RECORDS_BODIES = """sh -c 'echo "$(cat)" >> /tmp/got'"""
# The bodies are read back from the one container's file: the autoscaler, seeing the
# queued calls, must not add a second replica.
ONE_REPLICA = ("--replicas", "1", "--label", "com.faas.scale.min=1", "--label",
               "com.faas.scale.max=1")  # fmt: skip


def container(service: str) -> str:
    ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    return ids.split()[0]


def file_lines(service: str, path: str) -> list[str]:
    text = docker("exec", container(service), "sh", "-c", f"cat {path} 2>/dev/null || true")
    return [line for line in text.splitlines() if line.strip()]


def ready(client: httpx.Client, name: str) -> bool:
    reply = client.get(f"/system/function/{name}", auth=credentials())
    return reply.status_code == 200 and int(reply.json()["availableReplicas"]) >= 1


def all_ready(client: httpx.Client, names: list[str]) -> Callable[[], bool]:
    return lambda: all(ready(client, name) for name in names)


def has_lines(service: str, wanted: set[str]) -> Callable[[], bool]:
    return lambda: wanted <= set(file_lines(service, "/tmp/got"))


def in_gateway(platform: Platform, script: str) -> str:
    """Run a Python script in the gateway's container (it is on the `queue` network
    with NATS and Mosquitto, and its image has nats-py and aiomqtt)."""
    gateway = container(f"{platform.stack_name}_gateway")
    return docker("exec", gateway, "python3", "-c", textwrap.dedent(script))


def leader(triggers: str) -> str:
    """The container of the triggers replica holding the lease (its holder id starts
    with the container's hostname, its short id)."""
    holder = docker("service", "inspect", "--format",
                    '{{index .Spec.Labels "com.faas.triggers.holder"}}', triggers)  # fmt: skip
    return holder.strip().split("-", 1)[0]


def test_a_per_second_schedule_runs_once_per_tick_across_a_leader_change(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    triggers = f"{platform.stack_name}_triggers"
    docker("service", "scale", "--detach=false", f"{triggers}=2")  # one leads, one waits
    try:
        name = make_service(
            IMAGE, "--replicas", "1", "--env", f"fprocess={RECORDS_TICKS}",
            "--label", "com.faas.trigger.every.schedule=* * * * * *",
        )  # fmt: skip
        wait_for(lambda: ready(client, name), f"{name} to have a ready replica", timeout=120)
        wait_for(lambda: len(file_lines(name, "/tmp/ticks")) >= 10, "ten ticks", timeout=120)
        wait_for(lambda: bool(leader(triggers)), "a triggers replica to hold the lease")
        docker("kill", leader(triggers))  # the other replica takes over when the lease ends
        wait_for(lambda: len(file_lines(name, "/tmp/ticks")) >= 50, "fifty ticks", timeout=240)
        docker("service", "update", "--detach=false", "--label-rm",
               "com.faas.trigger.every.schedule", name)  # fmt: skip
        seen: list[int] = []

        def settled() -> bool:  # the last queued ticks have run
            count = len(file_lines(name, "/tmp/ticks"))
            seen.append(count)
            return len(seen) >= 10 and seen[-10] == count

        wait_for(settled, "the last ticks to run", timeout=120)
        ticks = [int(line) for line in file_lines(name, "/tmp/ticks")]
    finally:
        docker("service", "scale", "--detach=false", f"{triggers}=1")
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    assert sorted(ticks) == list(range(min(ticks), max(ticks) + 1)), "a tick was dropped"


def test_a_failing_scheduled_run_is_retried_then_dead_lettered(
    client: httpx.Client, make_service: ServiceFactory
) -> None:
    name = make_service(
        IMAGE, "--env", "fprocess=false",
        "--label", "com.faas.trigger.nightly.schedule=*/5 * * * * *",
        "--label", "com.faas.retry.attempts=2", "--label", "com.faas.retry.min_wait=200ms",
    )  # fmt: skip

    def dead_lettered() -> list[dict[str, object]]:
        reply = client.get("/system/async/dlq?limit=1000", auth=credentials())
        reply.raise_for_status()
        return [call for call in reply.json()["calls"] if call["function"] == name]

    wait_for(lambda: bool(dead_lettered()), f"a dead-lettered run of {name}", timeout=180)
    dead = dead_lettered()[0]
    assert dead["attempts"] == 2
    status = client.get(f"/system/async/{dead['callId']}", auth=credentials()).json()
    assert (status["state"], status["deadLettered"]) == ("failed", True)


def test_a_nats_publish_calls_every_subscriber_and_a_killed_connector_loses_none(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    subject = f"e2e.orders.{uuid.uuid4().hex[:8]}"
    stream = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    triggers = f"{platform.stack_name}_triggers"
    # Into a stream, made before the functions name it: the connector reads it through a
    # durable consumer (at least once).
    in_gateway(
        platform,
        f"""
        import asyncio, nats
        from nats.js.api import StreamConfig
        async def main():
            nc = await nats.connect("nats://nats:4222")
            await nc.jetstream().add_stream(StreamConfig(name="{stream}", subjects=["{subject}"]))
            await nc.close()
        asyncio.run(main())
    """,
    )
    first = make_service(IMAGE, *ONE_REPLICA, "--env", f"fprocess={RECORDS_BODIES}",
                         "--label", f"com.faas.trigger.orders.topic={subject}")  # fmt: skip
    second = make_service(IMAGE, *ONE_REPLICA, "--env", f"fprocess={RECORDS_BODIES}",
                          "--label", f"com.faas.annotation.topic={subject}")  # fmt: skip
    wait_for(all_ready(client, [first, second]), "both to be ready", timeout=120)
    publish = """
        import asyncio, nats
        async def main():
            nc = await nats.connect("nats://nats:4222")
            js = nc.jetstream()
            for n in range({start}, {end}):
                await js.publish("{subject}", b"order %d" % n)
            await nc.close()
        asyncio.run(main())
    """
    in_gateway(platform, publish.format(start=0, end=100, subject=subject))
    docker("kill", container(triggers))  # mid-stream
    in_gateway(platform, publish.format(start=100, end=200, subject=subject))
    wanted = {f"order {n}" for n in range(200)}
    try:
        for name in (first, second):
            wait_for(has_lines(name, wanted), f"every order to reach {name}", timeout=300)
    finally:
        in_gateway(platform, f"""
            import asyncio, nats
            async def main():
                nc = await nats.connect("nats://nats:4222")
                await nc.jetstream().delete_stream("{stream}")
                await nc.close()
            asyncio.run(main())
        """)  # fmt: skip


def test_an_mqtt_publish_calls_every_subscriber(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    mosquitto = f"{platform.stack_name}_mosquitto"
    if mosquitto not in docker("service", "ls", "--format", "{{.Name}}").split():
        pytest.skip("the stack runs no Mosquitto: deploy it with MQTT=1 make up")
    topic = f"e2e/{uuid.uuid4().hex[:8]}/temp"
    names = [
        make_service(IMAGE, *ONE_REPLICA, "--env", f"fprocess={RECORDS_BODIES}",
                     "--label", f"com.faas.trigger.sensor.topic={topic}")
        for _ in range(2)
    ]  # fmt: skip
    wait_for(all_ready(client, names), "both to be ready", timeout=120)
    publish = f"""
        import asyncio, aiomqtt
        async def main():
            async with aiomqtt.Client("mosquitto", 1883) as client:
                await client.publish("{topic}", b"reading %d" % {{n}}, qos=1)
        asyncio.run(main())
    """
    # Published until the connector follows the topic (it reads the labels every second).
    sent = 0

    def arrived() -> bool:
        nonlocal sent
        in_gateway(platform, publish.replace("{n}", str(sent)))
        sent += 1
        return all(file_lines(name, "/tmp/got") for name in names)

    wait_for(arrived, "a reading at both functions", timeout=120)
    in_gateway(platform, publish.replace("{n}", "999"))
    for name in names:
        wait_for(has_lines(name, {"reading 999"}), f"reading 999 at {name}")


# Publishes `order <n>` for n in [start, end) to a JetStream subject, each until the
# stream acknowledges it, reconnecting while the broker is killed and restarted.
PUBLISH_UNTIL_ACKED = """
    import asyncio, nats
    async def connected():
        for _ in range(240):
            try:
                return await nats.connect("nats://nats:4222", connect_timeout=1,
                                          allow_reconnect=False)
            except Exception:
                await asyncio.sleep(0.5)
        raise SystemExit("NATS did not come back")
    async def main():
        nc = await connected()
        for n in range({start}, {end}):
            for _ in range(240):
                try:
                    await nc.jetstream().publish("{subject}", b"order %d" % n, timeout=1)
                    break
                except Exception:
                    await asyncio.sleep(0.5)
                    if nc.is_closed:
                        nc = await connected()
            else:
                raise SystemExit("order %d never acknowledged" % n)
        await nc.close()
    asyncio.run(main())
"""


def test_a_killed_nats_server_loses_no_message_it_acknowledged(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    """The broker itself killed (SIGKILL) mid-stream: JetStream acknowledges a publish
    once it is in the stream's files, and the connector's durable consumer resumes."""
    subject = f"e2e.broker.{uuid.uuid4().hex[:8]}"
    stream = f"E2E_{uuid.uuid4().hex[:8].upper()}"
    in_gateway(platform, f"""
        import asyncio, nats
        async def main():
            nc = await nats.connect("nats://nats:4222")
            await nc.jetstream().add_stream(name="{stream}", subjects=["{subject}"])
            await nc.close()
        asyncio.run(main())
    """)  # fmt: skip
    names = [
        make_service(IMAGE, *ONE_REPLICA, "--env", f"fprocess={RECORDS_BODIES}",
                     "--label", f"com.faas.trigger.orders.topic={subject}")
        for _ in range(2)
    ]  # fmt: skip
    try:
        wait_for(all_ready(client, names), "both to be ready", timeout=120)
        in_gateway(platform, PUBLISH_UNTIL_ACKED.format(start=0, end=100, subject=subject))
        docker("kill", container(f"{platform.stack_name}_nats"))  # mid-stream
        in_gateway(platform, PUBLISH_UNTIL_ACKED.format(start=100, end=200, subject=subject))
        wanted = {f"order {n}" for n in range(200)}
        for name in names:
            wait_for(has_lines(name, wanted), f"every order to reach {name}", timeout=300)
    finally:
        in_gateway(platform, f"""
            import asyncio, nats
            async def main():
                nc = await nats.connect("nats://nats:4222", max_reconnect_attempts=120)
                await nc.jetstream().delete_stream("{stream}")
                await nc.close()
            asyncio.run(main())
        """)  # fmt: skip


def test_a_stopped_mosquitto_loses_no_message_it_acknowledged(
    platform: Platform, client: httpx.Client, make_service: ServiceFactory
) -> None:
    """Mosquitto stopped (SIGTERM, as an update or a drain does) and restarted mid-stream:
    it saves its sessions and the QoS 1 messages it acknowledged, and the connector's
    persistent session gets them. (A SIGKILL can lose the last second: docs/triggers.md.)"""
    mosquitto = f"{platform.stack_name}_mosquitto"
    if mosquitto not in docker("service", "ls", "--format", "{{.Name}}").split():
        pytest.skip("the stack runs no Mosquitto: deploy it with MQTT=1 make up")
    topic = f"e2e/{uuid.uuid4().hex[:8]}/orders"
    names = [
        make_service(IMAGE, *ONE_REPLICA, "--env", f"fprocess={RECORDS_BODIES}",
                     "--label", f"com.faas.trigger.orders.topic={topic}")
        for _ in range(2)
    ]  # fmt: skip
    wait_for(all_ready(client, names), "both to be ready", timeout=120)
    publish = f"""
        import asyncio, aiomqtt
        async def main():
            for _ in range(240):
                try:
                    async with aiomqtt.Client("mosquitto", 1883, timeout=2) as client:
                        for n in range({{start}}, {{end}}):
                            await client.publish("{topic}", b"order %d" % n, qos=1)
                    return
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.5)
            raise SystemExit("Mosquitto did not come back")
        asyncio.run(main())
    """
    # Published until the connector follows the topic (it reads the labels every second).
    probe = 0

    def following() -> bool:
        nonlocal probe
        in_gateway(platform, publish.replace("{start}", str(1000 + probe))
                   .replace("{end}", str(1001 + probe)))  # fmt: skip
        probe += 1
        return all(file_lines(name, "/tmp/got") for name in names)

    wait_for(following, "an order at both functions", timeout=120)
    in_gateway(platform, publish.replace("{start}", "0").replace("{end}", "100"))
    docker("kill", "--signal", "TERM", container(mosquitto))  # mid-stream
    in_gateway(platform, publish.replace("{start}", "100").replace("{end}", "200"))
    wanted = {f"order {n}" for n in range(200)}
    for name in names:
        wait_for(has_lines(name, wanted), f"every order to reach {name}", timeout=300)


def test_a_bad_schedule_is_refused_at_deploy(client: httpx.Client, cli: FaasCli) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {
        "service": name,
        "image": IMAGE,
        "annotations": {"topic": "cron-function", "schedule": "*/5 * * *"},
    }
    refused = client.post("/system/functions", json=body, auth=credentials())
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("annotations: schedule='*/5 * * *'")
    done = cli("deploy", "--image", IMAGE, "--name", name, "--annotation", "topic=cron-function",
               "--annotation", "schedule=61 * * * *")  # fmt: skip
    output = done.stdout + done.stderr
    assert "schedule='61 * * * *'" in output, output
    assert "Bad minute" in output, output
    listed = client.get("/system/functions", auth=credentials()).json()
    assert name not in {function["name"] for function in listed}
