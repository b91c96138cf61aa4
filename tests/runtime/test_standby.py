"""The warm standby in a ReplicaSet: real processes, the real worker and a fast double."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

import psutil
import pytest

from sdserve.runtime import ReplicaSet
from sdserve.runtime.replica import STANDBY_DISABLED, StandbySnapshot, StandbyState
from sdserve.serve import standby_command
from tests.runtime.conftest import PATIENCE, READY, STARTING, STOPPED, gone, until_gone

REAL_WORKER = [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1", "--model", "tiny"]
DOUBLE = [sys.executable, "-m", "tests.runtime.standby_double"]


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


async def until(condition: Callable[[], object]) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), PATIENCE)


def cmdline(pid: int) -> list[str]:
    return psutil.Process(pid).cmdline()


def ready_standby(replica_set: ReplicaSet) -> int | None:
    """The pid of the standby the next start would take over, if one is ready."""
    snapshot = replica_set.standby
    return snapshot.pid if snapshot.state is StandbyState.READY else None


async def warm_standby(replica_set: ReplicaSet) -> int:
    """Start the set at zero replicas and wait for its standby; returns the standby's pid."""
    await replica_set.scale(0)
    await until(lambda: ready_standby(replica_set))
    return ready_standby(replica_set)


async def one_ready_replica(replica_set: ReplicaSet, watcher):
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (replica,) = replica_set.replicas
    return replica


@pytest.mark.slow
async def test_scale_from_zero_uses_the_standby_and_a_fresh_one_replaces_it(make_set, watcher):
    before = children()
    replica_set = make_set(command=REAL_WORKER, standby_command=[*REAL_WORKER, "--standby"])
    standby = await warm_standby(replica_set)
    replica = await one_ready_replica(replica_set, watcher)
    assert replica.pid == standby
    await until(lambda: ready_standby(replica_set) not in (None, standby))
    fresh = ready_standby(replica_set)
    await replica_set.close()
    assert gone(standby) and gone(fresh)
    assert children() - before == set()


@pytest.mark.slow
async def test_a_dead_standby_is_replaced(make_set, watcher):
    replica_set = make_set(standby_command=DOUBLE)
    first = await warm_standby(replica_set)
    psutil.Process(first).kill()
    await until(lambda: ready_standby(replica_set) not in (None, first))
    replica = await one_ready_replica(replica_set, watcher)
    assert "tests.runtime.standby_double" in cmdline(replica.pid)


@pytest.mark.slow
async def test_a_start_does_not_wait_for_a_standby_that_is_not_ready(make_set, watcher):
    before = children()
    replica_set = make_set(standby_command=[*DOUBLE, "--never-ready"])
    await replica_set.scale(0)
    await until(lambda: len(children() - before) == 1)
    replica = await one_ready_replica(replica_set, watcher)
    assert "sdserve.testing.sleep_worker" in cmdline(replica.pid)  # started cold
    assert replica_set.standby.state is StandbyState.STARTING
    await replica_set.close()
    assert children() - before == set()


@pytest.mark.slow
async def test_replicas_born_from_standbys_stop_and_restart_like_any(make_set, watcher):
    replica_set = make_set(standby_command=DOUBLE)
    await warm_standby(replica_set)
    first = await one_ready_replica(replica_set, watcher)
    psutil.Process(first.pid).kill()
    await watcher.until(lambda: watcher.latest()[first.id].state is STOPPED)
    await watcher.until(lambda: watcher.count(READY) == 1)
    await replica_set.scale(0)
    await watcher.until(lambda: watcher.count(STOPPED) == 2)
    await until_gone([first.pid])


@pytest.mark.slow
async def test_the_standby_state_names_its_process(make_set):
    assert make_set().standby == STANDBY_DISABLED
    before = children()
    replica_set = make_set(standby_command=[*DOUBLE, "--never-ready"])
    assert replica_set.standby == StandbySnapshot(StandbyState.NONE)
    await replica_set.scale(0)
    await until(lambda: replica_set.standby.state is StandbyState.STARTING)
    assert {replica_set.standby.pid} == children() - before
    await replica_set.close()
    assert replica_set.standby == StandbySnapshot(StandbyState.NONE)


# How long a test gives a premature standby start to show before it says there is none.
SETTLE = 1.0


async def handed_over_and_held(make_set, watcher, release) -> tuple[ReplicaSet, int]:
    """A set whose standby became its one replica, which is not READY until `release`."""
    replica_set = make_set(standby_command=[*DOUBLE, "--hold-until", str(release)])
    standby = await warm_standby(replica_set)
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(STARTING) == 1)
    (replica,) = replica_set.replicas
    assert replica.pid == standby
    await asyncio.sleep(SETTLE)
    return replica_set, standby


@pytest.mark.slow
async def test_the_next_standby_starts_once_the_replica_that_took_one_is_ready(
    make_set, watcher, tmp_path
):
    before = children()
    release = tmp_path / "release"
    replica_set, heir = await handed_over_and_held(make_set, watcher, release)
    assert children() - before == {heir}
    assert replica_set.standby == StandbySnapshot(StandbyState.NONE)
    release.touch()
    await watcher.until(lambda: watcher.count(READY) == 1)
    await until(lambda: ready_standby(replica_set) not in (None, heir))


@pytest.mark.slow
async def test_the_next_standby_starts_when_the_replica_that_took_one_dies_starting(
    make_set, watcher, tmp_path
):
    replica_set, heir = await handed_over_and_held(make_set, watcher, tmp_path / "never")
    assert replica_set.standby == StandbySnapshot(StandbyState.NONE)
    await replica_set.scale(0)  # drained while STARTING: it will not need the cores
    await until(lambda: ready_standby(replica_set) not in (None, heir))


def args(**given: object) -> argparse.Namespace:
    values = {"standby": None, "worker_command": None, "model": "tiny", "models_dir": None}
    return argparse.Namespace(**{**values, **given})


@pytest.mark.parametrize(
    ("given", "env", "on"),
    [
        ({}, {}, True),
        ({}, {"SDSERVE_STANDBY": "0"}, False),
        ({}, {"SDSERVE_STANDBY": "off"}, False),
        ({}, {"SDSERVE_STANDBY": "1"}, True),
        ({"standby": False}, {}, False),
        ({"standby": True}, {"SDSERVE_STANDBY": "0"}, True),
        # Only our own worker knows --standby.
        ({"worker_command": "python -m my.server"}, {}, False),
        ({"standby": True, "worker_command": "python -m my.server"}, {}, False),
    ],
)
def test_standby_is_on_by_default_for_our_worker_only(given, env, on):
    command = standby_command(args(**given), env)
    assert (command is not None) is on
    if on:
        assert command[-1] == "--standby" and command[1:4] == ["-m", "sdserve", "worker"]


def test_bad_standby_env_names_the_variable():
    with pytest.raises(ValueError, match="SDSERVE_STANDBY"):
        standby_command(args(), {"SDSERVE_STANDBY": "maybe"})
