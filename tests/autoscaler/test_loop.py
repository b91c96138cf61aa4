"""The loop with fake concurrency/ready functions, a fake Scaler and an explicit clock."""

from __future__ import annotations

import asyncio

import pytest

from sdserve.autoscaler import Autoscaler
from sdserve.spec import load_services

OVERRIDES = {"stable-window": "6s", "scale-to-zero-grace-period": "4s", "tick-interval": "2s"}


class Cluster:
    """Plays gateway (concurrency), runtime (ready count, scale) and clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.load = 0.0
        self.ready = 0
        self.calls: list[int] = []

    def concurrency(self, service: str, now: float) -> float:
        return self.load

    def ready_count(self, service: str) -> int:
        return self.ready

    async def scale(self, desired: int) -> None:
        self.calls.append(desired)
        self.ready = desired  # replicas come up at once

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class SlowStartCluster(Cluster):
    """Replicas get ready only when the test says so."""

    async def scale(self, desired: int) -> None:
        self.calls.append(desired)


def make(cluster: Cluster, overrides=OVERRIDES) -> Autoscaler:
    (service,) = load_services(None, overrides=overrides)
    return Autoscaler([service], concurrency=cluster.concurrency,
                      ready_count=cluster.ready_count, scalers={service.name: cluster},
                      clock=lambda: cluster.now, sleep=cluster.sleep)


async def drive(autoscaler: Autoscaler, cluster: Cluster, start: float, end: float) -> None:
    for second in range(int(start), int(end)):
        cluster.now = float(second)
        autoscaler.sample(cluster.now)
        if second % 2 == 0:
            await autoscaler.tick(cluster.now)


async def test_seed_scales_up_with_load_then_to_zero():
    cluster = Cluster()
    autoscaler = make(cluster)
    await autoscaler.start(0.0)
    assert cluster.calls == [1]  # initial scale
    cluster.load = 5.0
    await drive(autoscaler, cluster, 1, 11)
    assert cluster.ready == 5
    status = autoscaler.status("stable-diffusion")
    assert status["desired"] == 5
    assert status["target"] == 1.0
    assert status["stable_concurrency"] == 5.0
    cluster.load = 0.0
    await drive(autoscaler, cluster, 11, 40)
    assert cluster.ready == 0
    assert max(cluster.calls) == 5
    assert autoscaler.status("stable-diffusion")["desired"] == 0


async def test_a_start_slower_than_the_stable_window_is_not_cut_short():
    """The initial replica takes 15 s to get ready, the stable window is 6 s: Knative
    keeps an activating revision until its activation timeout, and counts the stable
    window from the first ready replica."""
    cluster = SlowStartCluster()
    autoscaler = make(cluster)
    await autoscaler.start(0.0)
    await drive(autoscaler, cluster, 1, 15)
    assert cluster.calls[-1] == 1
    cluster.ready = 1
    await drive(autoscaler, cluster, 15, 21)
    assert cluster.calls[-1] == 1  # less than a stable window of activity
    await drive(autoscaler, cluster, 21, 40)  # then inactive for the grace period
    assert cluster.calls[-1] == 0


async def test_max_scale_caps_the_request():
    cluster = Cluster()
    autoscaler = make(cluster)
    await autoscaler.start(0.0)
    cluster.load = 50.0
    await drive(autoscaler, cluster, 1, 9)
    assert max(cluster.calls) == 10


async def test_poke_decides_at_once_from_zero():
    cluster = Cluster()
    autoscaler = make(cluster, {**OVERRIDES, "initial-scale": "0",
                                "allow-zero-initial-scale": "true"})
    await autoscaler.start(0.0)
    assert cluster.calls == [0]
    cluster.now = 3.3
    autoscaler.poke("stable-diffusion")
    await asyncio.sleep(0.01)
    assert cluster.calls[-1] == 1
    autoscaler.poke("stable-diffusion")  # replicas are on their way: nothing more
    await asyncio.sleep(0.01)
    assert cluster.calls == [0, 1]


async def test_run_samples_every_second_and_ticks():
    cluster = Cluster()
    cluster.load = 3.0
    autoscaler = make(cluster)
    task = asyncio.create_task(autoscaler.run())
    while cluster.now < 10:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cluster.calls[0] == 1
    assert cluster.calls[-1] == 3


async def test_a_failing_scaler_does_not_stop_the_loop(caplog):
    cluster = Cluster()
    autoscaler = make(cluster)

    async def broken(desired: int) -> None:
        raise RuntimeError("runtime down")

    cluster.scale = broken  # type: ignore[method-assign]
    await autoscaler.start(0.0)
    await autoscaler.tick(2.0)
    assert "runtime down" in caplog.text


def test_status_before_start_and_unknown_service():
    autoscaler = make(Cluster())
    status = autoscaler.status("stable-diffusion")
    assert status == {"desired": 0, "panic": False, "stable_concurrency": 0.0,
                      "panic_concurrency": 0.0, "target": 1.0, "excess_burst_capacity": 0}
    with pytest.raises(KeyError):
        autoscaler.status("nope")


def test_every_service_needs_a_scaler():
    (service,) = load_services(None)
    with pytest.raises(ValueError, match="stable-diffusion"):
        Autoscaler([service], concurrency=lambda s, n: 0.0, ready_count=lambda s: 0, scalers={})
