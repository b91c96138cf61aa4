"""Knative's progress deadline on one machine: when a replica that never got ready
is given up on (pure; replica_set.py acts on it).

On a cluster the Deployment's progressDeadlineSeconds turns a pod that never gets
ready into a failed revision (ProgressDeadlineExceeded) for an operator to read.
Locally nobody reads such a condition, so the replica set stops the replica and
starts another after the crash back-off: a model load that hangs is retried
instead of holding a replica slot, and a queue of requests, forever.
"""

from __future__ import annotations

from collections.abc import Iterable

from sdserve.runtime.replica import Replica, ReplicaState


def past_progress_deadline(
    started_at: float, now: float, deadline: float, state: ReplicaState
) -> bool:
    """Whether a replica is still STARTING `deadline` seconds or more after it started."""
    return state is ReplicaState.STARTING and now >= started_at + deadline


def seconds_to_progress_deadline(
    replicas: Iterable[Replica], now: float, deadline: float
) -> float | None:
    """How long until the first STARTING replica reaches its deadline (0 when one has);
    None when no replica is starting, so there is nothing to wake up for."""
    left = [r.started_at + deadline - now for r in replicas if r.state is ReplicaState.STARTING]
    return max(0.0, min(left)) if left else None
