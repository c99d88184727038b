"""Prometheus metrics, named like the OpenFaaS gateway's so its dashboards work unchanged.

A leaf: it imports nothing else of the gateway (it reads the functions through the small
`FunctionList` protocol). `registry.py` holds `GatewayMetrics`, what the proxy and the
scaler report to; `shared_view.py` the renderer over prometheus-client's multiprocess
files, which `python -m gateway` always uses (one process or several, docs/architecture.md);
`series.py` what both share.
"""

from gateway.metrics.registry import MULTIPROC_ENV, GatewayMetrics, multiprocess_values
from gateway.metrics.series import COLD_START_BUCKETS, CONTENT_TYPE, FunctionList
from gateway.metrics.shared_view import SharedView

__all__ = [
    "COLD_START_BUCKETS",
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "FunctionList",
    "GatewayMetrics",
    "SharedView",
    "multiprocess_values",
]
