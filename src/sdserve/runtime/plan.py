"""What the replica set should do next: pure, so a table of cases can test it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdserve.runtime.replica import Replica, ReplicaState


@dataclass(frozen=True)
class Plan:
    start: int = 0  # replicas to start now
    stop: tuple[str, ...] = ()  # replica ids to drain and stop, in order
    wake_in: float | None = None  # look again after this many seconds (a back-off ends)


def choose_to_stop(
    live: Sequence[Replica], count: int, in_flight: Callable[[str], int]
) -> tuple[str, ...]:
    """The `count` replicas whose loss costs least: ones not ready yet, then idle
    ones, then the least busy; among equals the youngest, whose warm caches and
    cookie sessions are the fewest."""

    def cost(replica: Replica) -> tuple[bool, int, float]:
        return (replica.state is ReplicaState.READY, in_flight(replica.id), -replica.started_at)

    return tuple(r.id for r in sorted(live, key=cost)[: max(0, count)])


def plan(
    desired: int,
    live: Sequence[Replica],
    in_flight: Callable[[str], int],
    *,
    now: float,
    restart_not_before: float,
) -> Plan:
    """Compare desired with the live (starting or ready) replicas.

    Draining replicas are not live: Knative counts a terminating pod as gone, so a
    scale-up during a drain starts new replicas instead of reusing it. Starts wait
    while a crash back-off runs.
    """
    missing = desired - len(live)
    if missing > 0:
        if now < restart_not_before:
            return Plan(wake_in=restart_not_before - now)
        return Plan(start=missing)
    if missing < 0:
        return Plan(stop=choose_to_stop(live, -missing, in_flight))
    return Plan()
