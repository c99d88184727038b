"""The hot path: relay a routed call to a function's replica and its answer back.

- `handler`: `FunctionProxy`, the raw ASGI app that puts the parts together per call.
- `forwarder`: `Forwarder`, one relay (buffering choice, retry elsewhere, streaming), and
  the one place a call waits for a ready replica (its waker).
- `headers`: which headers cross, each way. `replicas`: `ReplicaResolver` (DNS, cached,
  round-robin). `bodies`: streamed bodies and disconnects. `notifier`: the protocols for
  what the proxy is handed (notifiers, a waker).
"""
