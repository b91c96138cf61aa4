"""Shared by the runtime tests: a spec, a watcher playing the gateway, a ReplicaSet
factory that closes what it made, and process checks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from sdserve.runtime import Replica, ReplicaSet, ReplicaState
from sdserve.spec.types import Container, Probe, ServiceSpec

STARTING, READY, DRAINING, STOPPED = (
    ReplicaState.STARTING, ReplicaState.READY, ReplicaState.DRAINING, ReplicaState.STOPPED,
)
SLEEP_WORKER = [sys.executable, "-m", "sdserve.testing.sleep_worker"]
# Bounds waits on processes; tests pass long before it on a loaded two-core machine.
PATIENCE = 30.0


def service(probe: Probe | None = None, timeout_seconds: float = 300.0) -> ServiceSpec:
    probe = probe or Probe(kind="tcp", port=7860, period=1.0)
    return ServiceSpec(
        name="sd",
        container_concurrency=1,
        timeout_seconds=timeout_seconds,
        container=Container(port=7860, readiness_probe=probe),
    )


class Watcher:
    """Collects what the runtime publishes and plays the gateway's in-flight count."""

    def __init__(self) -> None:
        self.events: list[Replica] = []
        self.load: dict[str, int] = {}
        self.changed = asyncio.Event()

    def on_change(self, replica: Replica) -> None:
        self.events.append(replica)
        self.changed.set()

    def in_flight(self, replica_id: str) -> int:
        return self.load.get(replica_id, 0)

    def states(self, replica_id: str) -> list[ReplicaState]:
        return [r.state for r in self.events if r.id == replica_id]

    def latest(self) -> dict[str, Replica]:
        return {r.id: r for r in self.events}

    def ids(self) -> list[str]:
        return list(dict.fromkeys(r.id for r in self.events))

    async def until(self, condition: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), PATIENCE)

    def count(self, state: ReplicaState) -> int:
        return sum(1 for r in self.latest().values() if r.state is state)


@pytest.fixture
async def watcher() -> Watcher:
    return Watcher()


@pytest.fixture
async def make_set(watcher: Watcher) -> AsyncIterator[Callable[..., ReplicaSet]]:
    made: list[ReplicaSet] = []

    def make(spec: ServiceSpec | None = None, command: list[str] | None = None,
             **kwargs: object) -> ReplicaSet:
        replica_set = ReplicaSet(
            spec or service(), command=command or SLEEP_WORKER,
            on_change=watcher.on_change, in_flight=watcher.in_flight, **kwargs,
        )
        made.append(replica_set)
        return replica_set

    yield make
    for replica_set in made:
        await replica_set.close()


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie is dead; only its parent's wait is missing.
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def until_gone(pids: list[int]) -> None:
    async def wait() -> None:
        while not all(gone(pid) for pid in pids):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), PATIENCE)
