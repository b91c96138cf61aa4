"""The scenarios of knative/serving's pkg/autoscaler/scaling/autoscaler_test.go,
rewritten against our pure `decide`: time is an argument, nothing sleeps."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest

from sdserve.autoscaler.kpa import KpaState, decide, initial_state
from sdserve.spec.types import Autoscaling

STABLE_WINDOW = 60.0
UTILIZATION = 75.0  # Knative's tests presume 75 % utilization: total = target / 0.75


def settings(target: float, tbc: float, **changes) -> Autoscaling:
    base = Autoscaling(target=target * 100 / UTILIZATION,
                       target_utilization_percentage=UTILIZATION,
                       target_burst_capacity=tbc, panic_threshold_percentage=200.0,
                       max_scale_up_rate=10.0, max_scale_down_rate=10.0,
                       stable_window=STABLE_WINDOW)
    return replace(base, **changes)


def expected_ebc(target: float, tbc: float, panic: float, ready: int) -> int:
    return math.floor(ready * target * 100 / UTILIZATION - tbc - panic)


@dataclass
class Scaler:
    """Drives `decide` across ticks the way Knative's tests drive `Scale`."""

    settings: Autoscaling
    state: KpaState
    ready: int = 1
    stable: float = 0.0
    panic: float = 0.0
    reachable: bool = True

    @classmethod
    def new(cls, settings: Autoscaling, ready: int = 1, now: float = 0.0, **metrics) -> Scaler:
        return cls(settings, initial_state(settings, ready, now), ready=ready, **metrics)

    def expect(self, now: float, desired: int, ebc: int | None = None) -> None:
        decision, self.state = decide(self.settings, self.state, stable=self.stable,
                                      panic=self.panic, ready=self.ready,
                                      reachable=self.reachable, now=now)
        assert decision.desired == desired
        if ebc is not None:
            assert decision.excess_burst_capacity == ebc


def delay_settings(**changes) -> Autoscaling:
    return settings(10, 0, max_scale_down_rate=10, max_scale_up_rate=10,
                    panic_threshold_percentage=10000, scale_down_delay=300.0, **changes)


def test_scale_down_delay_simple_then_gradual():
    a = Scaler.new(delay_settings(), ready=0)
    a.stable = a.panic = 40
    a.expect(2, 4)
    a.stable = a.panic = 0
    a.expect(300, 4)  # five minutes at reduced concurrency: not yet
    a.expect(302, 0)  # five minutes and two seconds: now
    # gradual
    a.stable = a.panic = 40
    a.expect(540, 4)
    a.stable = a.panic = 30
    a.expect(600, 4)  # 4 still dominates
    a.stable = a.panic = 0
    a.expect(660, 4)
    a.expect(840, 3)  # 4 scrolls out
    a.expect(900, 0)  # everything scrolled out


def test_scale_down_delay_is_bypassed_when_not_reachable():
    a = Scaler.new(delay_settings(), ready=0)
    a.stable = a.panic = 40
    a.expect(2, 4)
    a.stable = a.panic = 0
    a.reachable = False
    a.expect(60, 0)


def test_scale_down_delay_zero_takes_the_latest_value():
    a = Scaler.new(settings(10, 0, panic_threshold_percentage=10000), ready=0)
    a.stable = a.panic = 40
    a.expect(0, 4)
    a.stable = a.panic = 10
    a.expect(0.5, 1)


def test_no_data_at_zero_scales_to_zero():
    Scaler.new(settings(10, 100)).expect(0, 0, expected_ebc(10, 100, 0, 1))


def test_stable_mode_increase():
    a = Scaler.new(settings(10, 101), stable=50, panic=10)
    a.expect(0, 5, expected_ebc(10, 101, 10, 1))
    a.stable = 100
    a.expect(0, 10, expected_ebc(10, 101, 10, 1))


def test_unpanic_after_slow_increase():
    a = Scaler.new(settings(1, 98), stable=11, panic=25)
    a.ready = 10
    a.expect(0, 25, expected_ebc(1, 98, 25, 10))
    assert a.state.panic_since == 0
    a.ready, a.stable, a.panic = 40, 30, 41  # half a window later, +1 pod per tick
    a.expect(30, 41, expected_ebc(1, 98, 41, 40))
    assert a.state.panic_since == 0  # 41/40 is under the threshold: no extension
    a.ready, a.stable, a.panic = 55, 50, 56
    a.expect(62, 50, expected_ebc(1, 98, 56, 55))  # no longer in panic
    assert a.state.panic_since is None


def test_extend_panic_window():
    a = Scaler.new(settings(1, 98), stable=11, panic=25)
    a.ready = 10
    a.expect(0, 25, expected_ebc(1, 98, 25, 10))
    a.ready, a.stable, a.panic = 40, 30, 80
    a.expect(30, 80, expected_ebc(1, 98, 80, 40))
    assert a.state.panic_since == 30


def test_stable_mode_decrease():
    a = Scaler.new(settings(10, 98), stable=100, panic=100)
    a.ready = 8
    a.expect(0, 10, expected_ebc(10, 98, 100, 8))
    a.stable = a.panic = 50
    a.expect(0, 5, expected_ebc(10, 98, 50, 8))


def test_stable_mode_no_traffic_scales_to_zero():
    a = Scaler.new(settings(10, 75), stable=1, panic=0)
    a.expect(0, 1, expected_ebc(10, 75, 0, 1))
    a.stable = 0
    a.expect(0, 0, expected_ebc(10, 75, 0, 1))


def test_activation_scale_lifts_non_zero_only():
    a = Scaler.new(settings(10, 75, activation_scale=2))
    a.expect(0, 0)
    a.stable = 1
    a.expect(0, 2)


def test_panic_mode_exponential_track_and_stabilize():
    a = Scaler.new(settings(1, 101), stable=6, panic=6)
    a.expect(0, 6, expected_ebc(1, 101, 6, 1))
    a.ready, a.stable, a.panic = 6, 36, 36
    a.expect(1, 36, expected_ebc(1, 101, 36, 6))
    assert a.state.panic_since == 1
    a.ready, a.stable, a.panic = 36, 216, 216
    a.expect(2, 216, expected_ebc(1, 101, 216, 36))
    assert a.state.panic_since == 2
    a.ready, a.stable, a.panic = 216, 1296, 1296
    a.expect(2, 1296, expected_ebc(1, 101, 1296, 216))
    a.ready = 1296
    a.expect(3, 1296, expected_ebc(1, 101, 1296, 1296))


@pytest.mark.parametrize(
    ("label", "base", "ready", "stable", "panic", "prep", "want", "ebc"), [
        ("no data at zero", settings(10, 100), 1, 0, 0, None, 0, expected_ebc(10, 100, 0, 1)),
        ("unlimited TBC", settings(181, -1), 1, 21, 26, None, 1, -1),
        ("zero TBC", settings(10, 0), 1, 50, 49, None, 5, 0),
        ("stable no change", settings(10, 100), 1, 50, 50, None, 5,
         expected_ebc(10, 100, 50, 1)),
        ("panic, stable larger than panic", settings(1, 100), 5, 50, 30,
         KpaState(panic_since=-5, max_panic_pods=5), 50, expected_ebc(1, 100, 30, 5)),
        ("panic, stable less than panic", settings(1, 100), 5, 20, 30,
         KpaState(panic_since=-5, max_panic_pods=5), 30, expected_ebc(1, 100, 30, 5)),
        ("already scaled", settings(10, 100), 5, 50, 50, None, 5,
         expected_ebc(10, 100, 50, 5)),
        ("small scale-up rate still grows by one", settings(1, 1982, max_scale_up_rate=1.1),
         2, 3, 3.1, None, 3, expected_ebc(1, 1982, 3.1, 2)),
        ("small scale-down rate", settings(10, 1982, max_scale_down_rate=1.1), 100, 1, 1, None,
         90, expected_ebc(10, 1982, 1, 100)),
        ("panic doubles the pod count", settings(10, 84), 1, 50, 100, None, 10,
         expected_ebc(10, 84, 100, 1)),
    ])
def test_scale_table(label, base, ready, stable, panic, prep, want, ebc):
    a = Scaler.new(base, ready=1, stable=stable, panic=panic)
    a.ready = ready
    if prep is not None:
        a.state = prep
    a.expect(0, want, ebc)


def test_not_reachable_scales_down_without_rate_limit():
    a = Scaler.new(settings(10, 1982, max_scale_down_rate=1.1), stable=1, panic=1)
    a.ready, a.reachable = 100, False
    a.expect(0, 1, expected_ebc(10, 1982, 1, 100))


def test_panic_then_unpanic_scale_down():
    a = Scaler.new(settings(10, 93), stable=100, panic=100)
    a.expect(0, 10, expected_ebc(10, 93, 100, 1))
    a.ready, a.panic = 10, 1000
    a.expect(100, 100, expected_ebc(10, 93, 1000, 10))
    a.stable = a.panic = 1
    a.expect(130, 100, expected_ebc(10, 93, 1, 10))  # still panicking: no scale-down
    a.expect(161, 1, expected_ebc(10, 93, 1, 10))  # a whole stable window later


def test_rate_limit_scale_up():
    a = Scaler.new(settings(10, 61), stable=1000, panic=1001)
    a.expect(0, 10, expected_ebc(10, 61, 1001, 1))  # needs 100, may only go x10
    a.ready = 10
    a.expect(0, 100, expected_ebc(10, 61, 1001, 10))


def test_rate_limit_scale_down():
    a = Scaler.new(settings(10, 61), stable=1, panic=1)
    a.ready = 100
    a.expect(0, 10, expected_ebc(10, 61, 1, 100))
    a.ready = 10
    a.expect(0, 1, expected_ebc(10, 61, 1, 10))


def test_zero_ready_counts_as_one():
    a = Scaler.new(settings(10, 81), ready=0, stable=1000, panic=888)
    a.expect(0, 10, expected_ebc(10, 81, 888, 0))


def test_new_autoscaler_starts_in_panic_above_one_replica():
    s = settings(100, 11, panic_threshold_percentage=220)
    for ready in (0, 1):
        state = initial_state(s, ready, 5.0)
        assert state.panic_since is None
        assert state.max_panic_pods == ready
    state = initial_state(s, 2, 5.0)
    assert state.panic_since == 5.0
    assert state.max_panic_pods == 2


def test_restart_in_panic_holds_the_ready_count():
    a = Scaler.new(settings(1, 0), ready=5, stable=0, panic=0)
    a.expect(1, 5)
    assert a.state.panic_since == 0
    a.expect(61, 0)  # a whole window without load ends panic


class TestClampedValue:
    def decision(self, s: Autoscaling, desired_load: float, ready: int = 1,
                 reachable: bool = True, state: KpaState | None = None):
        decision, new_state = decide(s, state or initial_state(s, ready, 0), stable=desired_load,
                                     panic=desired_load, ready=ready, reachable=reachable, now=0)
        return decision, new_state

    def test_min_and_max_scale(self):
        s = Autoscaling(target=1, target_utilization_percentage=100, min_scale=2, max_scale=4)
        assert self.decision(s, 0)[0].scaled == 2
        assert self.decision(s, 0)[0].desired == 0
        assert self.decision(s, 3, ready=3)[0].scaled == 3
        big = self.decision(s, 9, ready=9)[0]
        assert (big.desired, big.scaled) == (9, 4)

    def test_min_scale_applies_only_when_reachable(self):
        s = Autoscaling(target=1, target_utilization_percentage=100, min_scale=2)
        assert self.decision(s, 0, reachable=False)[0].scaled == 0

    def test_initial_scale_lifts_min_until_reached(self):
        s = Autoscaling(target=1, target_utilization_percentage=100, initial_scale=3)
        decision, state = self.decision(s, 0, ready=1)
        assert decision.scaled == 3
        assert not state.initialized
        _, state = self.decision(s, 0, ready=1, state=replace(state, max_panic_pods=0))
        _, state = self.decision(s, 3, ready=3, state=state)
        assert state.initialized
        decision, _ = self.decision(s, 0, ready=0, state=KpaState(initialized=True))
        assert decision.scaled == 0

    def test_seed_settings_one_request_is_one_replica(self):
        s = Autoscaling(target=1, target_utilization_percentage=100, max_scale=10)
        decision, _ = self.decision(s, 0.2, ready=0)
        assert decision.desired == 1
        assert decision.target == 1.0
