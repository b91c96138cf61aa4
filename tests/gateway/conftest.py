"""Real servers on 127.0.0.1 for gateway tests: the gateway itself and
sleep-worker replicas (sdserve.testing.sleep_worker) run in the test's loop."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sdserve.gateway import Gateway
from sdserve.runtime.replica import Replica, ReplicaState
from sdserve.spec import CookieAffinity, ServiceSpec
from sdserve.testing.sleep_worker import SleepWorker

SECRET = b"test-secret"
_ids = itertools.count(1)


@dataclass
class StaticScaleStatus:
    """The autoscaler's side of the contract, reduced to fixed answers."""

    answer: Mapping[str, Any] = field(
        default_factory=lambda: {
            "desired": 2, "panic": False, "stable_concurrency": 1.5,
            "panic_concurrency": 2.5, "target": 1.0, "excess_burst_capacity": -3.0,
        }
    )

    def status(self, service: str) -> Mapping[str, Any]:
        return self.answer


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    # handler_cancellation: a client that hangs up cancels its handler (frees its slot).
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Upstream:
    """One sleep-worker replica served in-process."""

    worker: SleepWorker
    runner: web.AppRunner
    url: str

    def replica(self, service: str, state: ReplicaState = ReplicaState.READY,
                replica_id: str | None = None) -> Replica:
        return Replica(id=replica_id or f"{service}-{self.url.rsplit(':', 1)[1]}",
                       service=service, url=self.url, device="cpu", state=state,
                       started_at=time.monotonic(), pid=None)


@dataclass
class Harness:
    gateway: Gateway
    url: str
    pokes: list[str]
    upstreams: list[Upstream] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)

    async def add_worker(self, service: str = "sd", *, seconds: float = 0.05,
                         state: ReplicaState = ReplicaState.READY) -> Upstream:
        worker = SleepWorker(seconds=seconds, load_seconds=0, now=time.monotonic())
        runner, url = await start(worker.app())
        upstream = Upstream(worker, runner, url)
        self.upstreams.append(upstream)
        self.gateway.update_replica(upstream.replica(service, state))
        return upstream


def spec(name: str = "sd", *, cc: int = 1, timeout: float = 30.0,
         cookie: bool = False) -> ServiceSpec:
    return ServiceSpec(name=name, container_concurrency=cc, timeout_seconds=timeout,
                       affinity=CookieAffinity() if cookie else None)


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Any]]:
    harnesses: list[Harness] = []

    async def make(*services: ServiceSpec, queue_limit: int = 10_000) -> Harness:
        pokes: list[str] = []
        gateway = Gateway(services or (spec(),), secret=SECRET, poke=pokes.append,
                          scale_status=StaticScaleStatus(), queue_limit=queue_limit)
        runner, url = await start(gateway.app())
        made = Harness(gateway, url, pokes, runners=[runner])
        harnesses.append(made)
        return made

    yield make
    for made in harnesses:
        for runner in [*made.runners, *(u.runner for u in made.upstreams)]:
            with contextlib.suppress(Exception):
                await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
