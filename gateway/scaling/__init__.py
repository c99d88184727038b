"""Autoscaling, scale to zero and scale from zero (docs/scaling.md).

- `policy`: labels → `ScalingPolicy`, and the pure per-function decisions (`ReplicaPlanner`).
- `autoscaler`: the control loop, and the one place the gateway changes replicas.
- `cold_start`: holds calls to a function at 0 replicas until a replica is ready.
- `alerts`: the Alertmanager webhook at `/system/alert`.
"""
