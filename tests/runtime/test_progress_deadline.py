"""When a replica that never got ready is given up on: tables of cases, no processes."""

from __future__ import annotations

import pytest

from sdserve.runtime.progress_deadline import (
    past_progress_deadline,
    seconds_to_progress_deadline,
)
from sdserve.runtime.replica import Replica, ReplicaState

STARTING, READY, DRAINING, STOPPED = (
    ReplicaState.STARTING, ReplicaState.READY, ReplicaState.DRAINING, ReplicaState.STOPPED,
)


def replica(rid: str, state: ReplicaState, started_at: float) -> Replica:
    return Replica(id=rid, service="sd", url="http://127.0.0.1:1", device="cpu",
                   state=state, started_at=started_at)


@pytest.mark.parametrize(
    ("label", "started_at", "now", "deadline", "state", "want"),
    [
        ("just started", 100.0, 100.0, 600.0, STARTING, False),
        ("a moment before", 100.0, 699.9, 600.0, STARTING, False),
        ("at the deadline", 100.0, 700.0, 600.0, STARTING, True),
        ("long after", 100.0, 5000.0, 600.0, STARTING, True),
        ("ready in time, deadline since passed", 100.0, 5000.0, 600.0, READY, False),
        ("already draining", 100.0, 5000.0, 600.0, DRAINING, False),
        ("already stopped", 100.0, 5000.0, 600.0, STOPPED, False),
        ("a short deadline", 0.0, 1.0, 1.0, STARTING, True),
    ],
)
def test_past_progress_deadline(label, started_at, now, deadline, state, want):
    assert past_progress_deadline(started_at, now, deadline, state) is want, label


@pytest.mark.parametrize(
    ("label", "replicas", "now", "want"),
    [
        ("no replicas", [], 50.0, None),
        ("none starting", [replica("a", READY, 0.0), replica("b", DRAINING, 10.0)], 50.0, None),
        ("one starting", [replica("a", STARTING, 10.0)], 25.0, 15.0),
        ("the earliest of several",
         [replica("late", STARTING, 20.0), replica("early", STARTING, 10.0),
          replica("ready", READY, 0.0)], 25.0, 15.0),
        ("one already past", [replica("a", STARTING, 0.0)], 50.0, 0.0),
    ],
)
def test_seconds_to_progress_deadline(label, replicas, now, want):
    assert seconds_to_progress_deadline(replicas, now, deadline=30.0) == want, label
