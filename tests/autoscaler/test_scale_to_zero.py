from dataclasses import replace

from sdserve.autoscaler.scale_to_zero import (
    ACTIVATION_TIMEOUT_BUFFER,
    Activity,
    gate_scale_to_zero,
    started,
)
from sdserve.spec.types import Autoscaling

S = Autoscaling(stable_window=60, scale_to_zero_grace_period=30)
DEADLINE = 600.0  # the progress deadline


def run(settings, activity, desired, now, ready=1, reachable=True):
    return gate_scale_to_zero(settings, activity, desired, ready=ready, reachable=reachable,
                              progress_deadline=DEADLINE, now=now)


def test_non_zero_passes_and_marks_active_once_a_replica_is_ready():
    replicas, activity = run(S, Activity("inactive", 0), 3, 10, ready=0)
    assert replicas == 3
    assert activity == Activity("activating", 10)
    replicas, activity = run(S, activity, 3, 14, ready=1)
    assert replicas == 3
    assert activity == Activity("active", 14)
    assert run(S, activity, 3, 20, ready=3)[1] == Activity("active", 14)


def test_zero_waits_a_stable_window_of_activity_then_the_grace_period():
    activity = Activity("active", 0)
    replicas, activity = run(S, activity, 0, 59)
    assert replicas == 1
    replicas, activity = run(S, activity, 0, 60)  # marked inactive now
    assert replicas == 1
    assert activity == Activity("inactive", 60)
    assert run(S, activity, 0, 89)[0] == 1
    assert run(S, activity, 0, 90)[0] == 0


def test_the_stable_window_counts_from_the_first_ready_replica_not_the_start():
    """A start slower than the stable window is not cut short (Knative: activating)."""
    s = replace(S, stable_window=6, scale_to_zero_grace_period=2)
    activity = started(0, 1)
    assert activity == Activity("activating", 0)
    for now in (2, 4, 6, 8, 10):  # still loading, no traffic: the KPA wants 0
        replicas, activity = run(s, activity, 0, now, ready=0)
        assert replicas == 1
    assert activity == Activity("activating", 0)
    replicas, activity = run(s, activity, 0, 12, ready=1)
    assert replicas == 1 and activity == Activity("active", 12)
    replicas, activity = run(s, activity, 0, 18)  # a stable window of activity
    assert replicas == 1 and activity == Activity("inactive", 18)
    assert run(s, activity, 0, 20)[0] == 0


def test_a_revision_that_never_gets_ready_is_given_up_after_the_activation_timeout():
    timeout = DEADLINE + ACTIVATION_TIMEOUT_BUFFER
    activity = started(0, 1)
    assert run(S, activity, 0, timeout, ready=0)[0] == 1
    replicas, activity = run(S, activity, 0, timeout + 1, ready=0)
    assert replicas == 0
    assert activity == Activity("inactive", timeout + 1)


def test_an_active_revision_that_loses_its_replicas_is_activating_again():
    replicas, activity = run(S, Activity("active", 0), 1, 30, ready=0)
    assert replicas == 1 and activity == Activity("activating", 30)


def test_pod_retention_longer_than_grace_holds_the_last_replica():
    s = replace(S, scale_to_zero_pod_retention_period=100)
    activity = Activity("inactive", 0)
    assert run(s, activity, 0, 99)[0] == 1
    assert run(s, activity, 0, 100)[0] == 0
    assert run(s, activity, 0, 30, reachable=False)[0] == 0


def test_disabled_scale_to_zero_keeps_one():
    s = replace(S, enable_scale_to_zero=False)
    assert run(s, Activity("inactive", 0), 0, 1000)[0] == 1
    assert run(s, Activity("activating", 0), 0, 10_000, ready=0)[0] == 1


def test_traffic_resets_inactivity():
    activity = Activity("inactive", 0)
    _, activity = run(S, activity, 1, 20)  # a replica is still up in the grace period
    assert activity == Activity("active", 20)
    replicas, activity = run(S, activity, 0, 40)
    assert replicas == 1
    assert activity == Activity("active", 20)


def test_started_at_zero_is_inactive():
    assert started(5, 0) == Activity("inactive", 5)
    assert run(S, started(5, 0), 0, 35, ready=0)[0] == 0
