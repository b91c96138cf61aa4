"""Whether a decision of zero replicas may be carried out yet.

Knative's KPA (pkg/reconciler/autoscaling/kpa/scaler.go and kpa.go) tracks the
revision's Active condition: activating (replicas asked for, none ready yet),
active (a replica ready) or inactive (no traffic), each since its last change.
It goes to zero only when scale-to-zero is enabled and
- an active revision has been active for at least a stable window, is then
  marked inactive, and has stayed inactive for max(grace period, pod retention);
- an activating revision, one whose replicas never got ready, is given up after
  the activation timeout (progress deadline + 30 s); until then a slow start is
  not cut short, however short the stable window.
Until then one replica stays. The gateway is always in the request path here (it
is the activator), so Knative's check that the activator is in the path holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sdserve.spec.types import Autoscaling

# Knative's activationTimeoutBuffer, added to the progress deadline.
ACTIVATION_TIMEOUT_BUFFER = 30.0
ACTIVE_THRESHOLD = 1  # ready replicas that make a revision active (min-scale keeps it above 0)


@dataclass(frozen=True)
class Activity:
    """The revision's Active condition and when it last changed."""

    state: Literal["activating", "active", "inactive"]
    since: float


def started(now: float, replicas: int) -> Activity:
    """Activity of a revision that was just asked for `replicas` at `now`."""
    return Activity("activating" if replicas > 0 else "inactive", now)


def gate_scale_to_zero(settings: Autoscaling, activity: Activity, desired: int, *, ready: int,
                       reachable: bool, progress_deadline: float,
                       now: float) -> tuple[int, Activity]:
    """(replicas to ask for, next activity) for a clamped decision `desired`, with
    `ready` replicas ready now."""
    replicas, want = _replicas(settings, activity, desired, reachable=reachable,
                               progress_deadline=progress_deadline, now=now)
    return replicas, _next_activity(activity, want, ready, now)


def _replicas(settings: Autoscaling, activity: Activity, desired: int, *, reachable: bool,
              progress_deadline: float, now: float) -> tuple[int, int | None]:
    """(replicas, the scaler's `want`: None where Knative's is unknown, -1)."""
    if desired != 0:
        return desired, desired
    if not settings.enable_scale_to_zero:
        return 1, 1
    in_state_for = now - activity.since
    if activity.state == "activating":
        if in_state_for > progress_deadline + ACTIVATION_TIMEOUT_BUFFER:
            return 0, 0  # it could not be activated
        return 1, None
    if activity.state == "active":
        # Active for a stable window: marked inactive now (want 0), scaled later.
        return 1, (0 if in_state_for >= settings.stable_window else 1)
    # An unreachable revision has no pod retention to honour.
    retention = settings.scale_to_zero_pod_retention_period if reachable else 0.0
    return (0 if in_state_for >= max(settings.scale_to_zero_grace_period, retention) else 1), 0


def _next_activity(activity: Activity, want: int | None, ready: int, now: float) -> Activity:
    """Knative's computeActiveCondition, for the revision's min-ready of one."""
    # Wanted (or activating, its want unknown): active once a replica is ready.
    ready_state = "active" if ready >= ACTIVE_THRESHOLD else "activating"
    state = "inactive" if want == 0 else ready_state
    return activity if state == activity.state else Activity(state, now)
