"""The triggers service's Prometheus series (docs/triggers.md), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class TriggerMetrics:
    """Per trigger: firings queued, firings that failed, and the lag of each."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.fired = Counter(
            "gateway_trigger_fired",
            "Trigger firings queued as calls (a cron tick, a broker message, by hand)",
            ["function_name", "trigger"],
            registry=self.registry,
        )
        self.failed = Counter(
            "gateway_trigger_failed",
            "Trigger firings the queue did not take (broker away or full); retried while "
            "their moment is within the grace",
            ["function_name", "trigger"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "gateway_trigger_lag_seconds",
            "From a tick's scheduled moment (a message's receipt) to its call stored",
            ["function_name", "trigger"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
