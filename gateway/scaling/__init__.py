"""Autoscaling, scale to zero and scale from zero (docs/scaling.md).

- `policy`: labels → `ScalingPolicy`, and the pure per-function decisions (`ReplicaPlanner`).
- `autoscaler`: the control loop, and the one place the gateway changes replicas.
- `cold_start`: holds calls to a function at 0 replicas until a replica is ready (one
  wake-up or hold per function, shared by its calls); its parts: `parking` (calls held
  while a function is scaled to 0), `parked_file` (parks shared between workers),
  `readiness` (finding a ready replica), `probes`, `failures` (failed replicas remembered).
- `alerts`: the Alertmanager webhook at `/system/alert`.
"""
