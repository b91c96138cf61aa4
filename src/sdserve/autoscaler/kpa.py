"""One KPA decision, as Knative's `autoscaler.Scale` makes it, as a pure function.

Settings, the autoscaler's small state, the observed stable and panic
concurrency, the ready replica count, reachability and `now` go in; the
decision and the next state come out. No clock, no I/O: the loop feeds it and
`sdserve autoscaler replay` calls the very same function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sdserve.autoscaler.max_window import MaxWindow
from sdserve.spec.types import Autoscaling

# Knative's autoscaling.TargetMin: the smallest per-replica target value.
TARGET_MIN = 0.01


@dataclass(frozen=True)
class KpaState:
    # When the panic window was last over the threshold; None = not panicking.
    panic_since: float | None = None
    # The most replicas desired since panic began: panic never scales down.
    max_panic_pods: int = 0
    # The scale-down-delay window; None when the delay is 0.
    delay: MaxWindow | None = None
    # Whether initial-scale has been reached once (it then stops lifting min-scale).
    initialized: bool = False


@dataclass(frozen=True)
class Decision:
    desired: int  # before min/max clamping, as Knative's Scale returns it
    scaled: int  # clamped to [min-scale (lifted to initial-scale until reached), max-scale]
    panic: bool
    excess_burst_capacity: int  # negative: the activator (gateway queue) stays in the path
    stable_concurrency: float
    panic_concurrency: float
    target: float


def target_value(settings: Autoscaling) -> float:
    return max(TARGET_MIN, settings.target_value)


def initial_state(settings: Autoscaling, ready: int, now: float) -> KpaState:
    """A new autoscaler that finds more than one ready replica starts in panic
    mode holding that count, so a restart does not scale down before metrics
    accumulate."""
    delay = MaxWindow.of(settings.scale_down_delay) if settings.scale_down_delay > 0 else None
    if ready > 1:
        return KpaState(panic_since=now, max_panic_pods=ready, delay=delay)
    return KpaState(max_panic_pods=ready, delay=delay)


def scale_bounds(settings: Autoscaling, *, reachable: bool, initialized: bool) -> tuple[int, int]:
    """(min, max) as Knative's KPA scaler applies them; max 0 means unlimited."""
    low = settings.min_scale if reachable else 0
    # initial-scale lifts the floor until it has been reached once.
    if settings.initial_scale > 1 and reachable and not initialized:
        low = max(low, settings.initial_scale)
    return low, settings.max_scale


def apply_bounds(low: int, high: int, value: int) -> int:
    if value < low:
        return low
    if high and value > high:
        return high
    return value


def _excess_burst_capacity(settings: Autoscaling, ready: int, panic: float) -> int:
    tbc = settings.target_burst_capacity
    if tbc == 0:
        return 0
    if tbc < 0:  # -1: unlimited burst, the activator always stays in the path
        return -1
    return math.floor(ready * settings.target - tbc - panic)


def _activation_lift(settings: Autoscaling, raw: float, pods: int) -> int:
    if settings.activation_scale > 1 and raw > 0:
        return max(pods, settings.activation_scale)
    return pods


def decide(settings: Autoscaling, state: KpaState, *, stable: float, panic: float, ready: int,
           reachable: bool, now: float) -> tuple[Decision, KpaState]:
    """One tick of the KPA: observed concurrency in, desired replicas out."""
    target = target_value(settings)
    pods = max(1.0, float(ready))
    # Rate limits, so that a conservative scale-up rate still grows by one.
    max_up = math.ceil(settings.max_scale_up_rate * pods)
    max_down = math.floor(pods / settings.max_scale_down_rate) if reachable else 0

    raw_stable = math.ceil(stable / target)
    raw_panic = math.ceil(panic / target)
    stable_pods = _activation_lift(settings, raw_stable, min(max(raw_stable, max_down), max_up))
    panic_pods = _activation_lift(settings, raw_panic, min(max(raw_panic, max_down), max_up))

    over_threshold = raw_panic / pods >= settings.panic_threshold_percentage / 100.0
    panic_since, max_panic_pods = state.panic_since, state.max_panic_pods
    if over_threshold:
        panic_since = now  # start panicking, or push the end of panic out
    elif panic_since is not None and panic_since + settings.stable_window < now:
        # The surge has made its way into the stable window.
        panic_since, max_panic_pods = None, 0

    desired = stable_pods
    if panic_since is not None:
        # Provision for the larger of the two, and never scale down while panicking.
        max_panic_pods = max(max_panic_pods, stable_pods, panic_pods)
        desired = max_panic_pods

    delay = state.delay
    if reachable and delay is not None:
        delay = delay.record(now, desired)
        desired = delay.current

    initialized = state.initialized or ready >= settings.initial_scale
    low, high = scale_bounds(settings, reachable=reachable, initialized=initialized)
    decision = Decision(
        desired=desired,
        scaled=apply_bounds(low, high, desired),
        panic=panic_since is not None,
        excess_burst_capacity=_excess_burst_capacity(settings, ready, panic),
        stable_concurrency=stable,
        panic_concurrency=panic,
        target=target,
    )
    return decision, KpaState(panic_since, max_panic_pods, delay, initialized)
