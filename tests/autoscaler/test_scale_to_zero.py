from dataclasses import replace

from sdserve.autoscaler.scale_to_zero import Activity, gate_scale_to_zero, started
from sdserve.spec.types import Autoscaling

S = Autoscaling(stable_window=60, scale_to_zero_grace_period=30)


def run(settings, activity, desired, now, reachable=True):
    return gate_scale_to_zero(settings, activity, desired, reachable=reachable, now=now)


def test_non_zero_passes_and_marks_active():
    replicas, activity = run(S, Activity(inactive_since=0), 3, 10)
    assert replicas == 3
    assert activity == Activity(active_since=10)


def test_zero_waits_a_stable_window_of_activity_then_the_grace_period():
    activity = started(0, 1)
    replicas, activity = run(S, activity, 0, 59)
    assert replicas == 1
    replicas, activity = run(S, activity, 0, 60)  # marked inactive now
    assert replicas == 1
    assert activity.inactive_since == 60
    assert run(S, activity, 0, 89)[0] == 1
    assert run(S, activity, 0, 90)[0] == 0


def test_pod_retention_longer_than_grace_holds_the_last_replica():
    s = replace(S, scale_to_zero_pod_retention_period=100)
    activity = Activity(inactive_since=0)
    assert run(s, activity, 0, 99)[0] == 1
    assert run(s, activity, 0, 100)[0] == 0
    assert run(s, activity, 0, 30, reachable=False)[0] == 0


def test_disabled_scale_to_zero_keeps_one():
    s = replace(S, enable_scale_to_zero=False)
    assert run(s, Activity(inactive_since=0), 0, 1000)[0] == 1


def test_traffic_resets_inactivity():
    activity = Activity(inactive_since=0)
    _, activity = run(S, activity, 1, 20)
    replicas, activity = run(S, activity, 0, 40)
    assert replicas == 1
    assert activity == Activity(active_since=20)


def test_started_at_zero_is_inactive():
    assert started(5, 0) == Activity(inactive_since=5)
    assert run(S, started(5, 0), 0, 35)[0] == 0
