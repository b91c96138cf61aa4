"""Whether a decision of zero replicas may be carried out yet.

Knative's KPA scaler (pkg/reconciler/autoscaling/kpa/scaler.go) goes to zero
only when scale-to-zero is enabled, the revision has been active for at least a
stable window and is then marked inactive, and it has stayed inactive for
max(grace period, pod retention). Until then one replica stays. The gateway is
always in the request path here (it is the activator), so that check holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdserve.spec.types import Autoscaling


@dataclass(frozen=True)
class Activity:
    active_since: float | None = None  # None: inactive
    inactive_since: float | None = None  # None: active


def started(now: float, replicas: int) -> Activity:
    """Activity of a revision that was just asked for `replicas` at `now`."""
    return Activity(active_since=now) if replicas > 0 else Activity(inactive_since=now)


def gate_scale_to_zero(settings: Autoscaling, activity: Activity, desired: int, *,
                       reachable: bool, now: float) -> tuple[int, Activity]:
    """(replicas to ask for, next activity) for a clamped decision `desired`."""
    if desired != 0:
        if activity.active_since is None:
            activity = Activity(active_since=now)
        return desired, activity
    if not settings.enable_scale_to_zero:
        return 1, activity
    inactive_since = activity.inactive_since
    if inactive_since is None:
        active_since = now if activity.active_since is None else activity.active_since
        if now - active_since < settings.stable_window:
            return 1, activity
        inactive_since = now
        activity = Activity(inactive_since=now)
    # An unreachable revision has no pod retention to honour.
    retention = settings.scale_to_zero_pod_retention_period if reachable else 0.0
    if now - inactive_since >= max(settings.scale_to_zero_grace_period, retention):
        return 0, activity
    return 1, activity
