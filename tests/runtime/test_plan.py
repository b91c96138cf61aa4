"""Which replicas to start and stop: tables of cases, no processes."""

from __future__ import annotations

import pytest

from sdserve.runtime.plan import Plan, choose_to_stop, plan
from sdserve.runtime.replica import Replica, ReplicaState

READY, STARTING = ReplicaState.READY, ReplicaState.STARTING


def replica(rid: str, state: ReplicaState = READY, started_at: float = 0.0) -> Replica:
    return Replica(id=rid, service="sd", url="http://127.0.0.1:1", device="cpu",
                   state=state, started_at=started_at)


OLD_IDLE = replica("old-idle", started_at=1.0)
YOUNG_IDLE = replica("young-idle", started_at=5.0)
BUSY = replica("busy", started_at=9.0)
VERY_BUSY = replica("very-busy", started_at=10.0)
STARTING_UP = replica("starting", STARTING, started_at=0.5)
LOAD = {"busy": 1, "very-busy": 3}


@pytest.mark.parametrize(
    ("label", "live", "count", "want"),
    [
        ("none asked", [OLD_IDLE, BUSY], 0, ()),
        ("idle before busy", [BUSY, OLD_IDLE], 1, ("old-idle",)),
        ("youngest idle first", [OLD_IDLE, YOUNG_IDLE, BUSY], 1, ("young-idle",)),
        ("not ready before idle", [OLD_IDLE, STARTING_UP], 1, ("starting",)),
        ("least busy next", [VERY_BUSY, BUSY, OLD_IDLE], 2, ("old-idle", "busy")),
        ("all", [VERY_BUSY, BUSY], 5, ("busy", "very-busy")),
    ],
)
def test_choose_to_stop(label, live, count, want):
    assert choose_to_stop(live, count, lambda rid: LOAD.get(rid, 0)) == want, label


@pytest.mark.parametrize(
    ("label", "desired", "live", "now", "restart_not_before", "want"),
    [
        ("steady", 2, [OLD_IDLE, BUSY], 10.0, 0.0, Plan()),
        ("from zero", 3, [], 10.0, 0.0, Plan(start=3)),
        ("up by one", 3, [OLD_IDLE, BUSY], 10.0, 0.0, Plan(start=1)),
        ("back-off holds starts", 3, [OLD_IDLE], 10.0, 12.5, Plan(wake_in=2.5)),
        ("back-off over", 3, [OLD_IDLE], 12.5, 12.5, Plan(start=2)),
        ("down to one", 1, [OLD_IDLE, BUSY, YOUNG_IDLE], 10.0, 0.0,
         Plan(stop=("young-idle", "old-idle"))),
        ("back-off does not delay stops", 0, [BUSY], 10.0, 99.0, Plan(stop=("busy",))),
        ("to zero", 0, [], 10.0, 0.0, Plan()),
    ],
)
def test_plan(label, desired, live, now, restart_not_before, want):
    got = plan(desired, live, lambda rid: LOAD.get(rid, 0), now=now,
               restart_not_before=restart_not_before)
    assert got == want, label
