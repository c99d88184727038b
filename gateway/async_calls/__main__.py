"""`python -m gateway.async_calls`: the queue consumer, a service of its own.

It reads the gateway's configuration (the same variables: provider, timeouts, and
`GATEWAY_NATS_URL` and the other `GATEWAY_ASYNC_*`), serves its metrics and health
(`/metrics`, `/healthz`: 503 while it has no broker connection) on
`GATEWAY_ASYNC_WORKER_PORT` and runs queued calls until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid

from gateway.assembly import (
    build_call_path,
    build_job_engine,
    build_provider,
    configure_logging,
    run_until_signalled,
)
from gateway.async_calls.broker import Broker
from gateway.async_calls.consumer import QueueConsumer
from gateway.async_calls.job_exchange import JobExchange
from gateway.async_calls.jobs import JobRunner, job_url, keep_removing_orphans
from gateway.async_calls.metrics import ConsumerMetrics
from gateway.async_calls.monitoring import MonitoringServer
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.providers.jobs import JobEngine
from gateway.proxy.forwarder import Forwarder, upstream_client

log = logging.getLogger("gateway.async.worker")


async def run_consumer(
    config: GatewayConfig, stop: asyncio.Event, job_engine: JobEngine | None = None
) -> None:
    """Run the queue consumer with the provider `config` names until `stop` is set;
    job functions' calls run on `job_engine` (default: the provider's, if it has one)."""
    provider = build_provider(config)
    metrics = ConsumerMetrics()
    client = upstream_client(config)
    call_path = build_call_path(config, provider, metrics, client=client)
    callbacks = Forwarder(config, call_path.resolver, client)  # never wakes or holds
    broker = Broker(config.async_calls, name="faas-queue-worker")
    exchange = JobExchange()
    monitoring = MonitoringServer(
        config.async_calls.consumer_port,
        metrics.registry,
        lambda: None if broker.ready else broker.problem or "not connected",
        exchange,
    )
    consumer_id = uuid.uuid4().hex
    job_engine = job_engine or build_job_engine(provider)
    jobs = None
    if job_engine is not None:
        port = config.async_calls.consumer_port
        jobs = JobRunner(job_engine, exchange, metrics, job_url(port), consumer_id)
    monitoring.start()
    await provider.start()
    try:
        await call_path.start()
        await broker.start()
        try:
            cleaner = (
                asyncio.create_task(keep_removing_orphans(jobs, broker, stop))
                if jobs is not None
                else None
            )
            consumer = QueueConsumer(
                config.async_calls,
                broker,
                call_path.calls,
                provider.status,
                call_path.forwarder,
                callbacks,
                metrics,
                invoke_credentials=config.basic_auth if config.invoke_auth else None,
                jobs=jobs,
                consumer_id=consumer_id,
            )
            await consumer.run(stop)
            if cleaner is not None:
                cleaner.cancel()
        finally:
            await broker.close()
            await call_path.close()
    finally:
        await provider.close()
        monitoring.close()


def main() -> int:
    """Run until SIGTERM/SIGINT; 2 on a configuration error."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"queue worker: configuration error: {error}", file=sys.stderr)
        return 2
    if not config.async_calls.enabled:
        print("queue worker: configuration error: GATEWAY_NATS_URL: required", file=sys.stderr)
        return 2
    configure_logging(config)

    log.info("queue worker: %s", config.async_calls.nats_url)
    run_until_signalled(lambda stop: run_consumer(config, stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
