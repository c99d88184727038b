"""The queue consumer's Prometheus metrics (served on its own port, `GATEWAY_ASYNC_WORKER_PORT`).

Names follow the gateway's (`gateway_*`, `function_name` labels) so one dashboard can put
sync and async traffic side by side; docs/async.md lists them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class ConsumerMetrics:
    """The series one queue consumer exports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pending = Gauge(
            "gateway_async_queue_pending",
            "Async calls queued and not finished yet, by function (JetStream's count)",
            ["function_name"],
            registry=self.registry,
        )
        self.inflight = Gauge(
            "gateway_async_inflight",
            "Async calls this worker is running now",
            ["function_name"],
            registry=self.registry,
        )
        self.retries = Counter(
            "gateway_async_retries",
            "Async call attempts that failed and were scheduled again",
            ["function_name", "code"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "gateway_async_dead_lettered",
            "Async calls moved to the dead-letter queue after their last attempt",
            ["function_name"],
            registry=self.registry,
        )
        self.completed = Counter(
            "gateway_async_completed",
            "Async calls finished (the final status; 0: no answer)",
            ["function_name", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_async_latency_seconds",
            "From the gateway's 202 to the call's final state (retries and queueing included)",
            ["function_name"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.jobs_started = Counter(
            "gateway_async_jobs_started",
            "Job services started for async calls of job functions (docs/jobs.md)",
            ["function_name"],
            registry=self.registry,
        )
        self.jobs_running = Gauge(
            "gateway_async_jobs_running",
            "Jobs this worker runs now (their services exist)",
            ["function_name"],
            registry=self.registry,
        )
        self.jobs_succeeded = Counter(
            "gateway_async_jobs_succeeded",
            "Jobs whose process exited with 0",
            ["function_name"],
            registry=self.registry,
        )
        self.jobs_failed = Counter(
            "gateway_async_jobs_failed",
            "Jobs that failed, by reason: exit_code, timeout, container, start, output-too-large",
            ["function_name", "reason"],
            registry=self.registry,
        )
        self.job_start_seconds = Histogram(
            "gateway_async_job_start_seconds",
            "From the gateway's 202 to the job's container fetching its input",
            ["function_name"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def scale_event(self, metric_name: str, direction: str, replicas: int) -> None:
        """The gateway counts scaling; a consumer that wakes a function only logs it."""

    def cold_start(self, metric_name: str, seconds: float) -> None:
        """Cold starts are the gateway's series too."""
