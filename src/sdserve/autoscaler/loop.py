"""The autoscaler loop: measure every second, decide every tick, act through a Scaler.

Measuring, deciding and acting stay apart as in Knative: the gateway's
`concurrency` callable is sampled into per-second windows, `kpa.decide` makes
the decision, `scale_to_zero` gates a decision of zero, and `Scaler.scale`
(the runtime's ReplicaSet) carries it out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sdserve.autoscaler.kpa import Decision, KpaState, apply_bounds, decide, initial_state
from sdserve.autoscaler.kpa import target_value as kpa_target_value
from sdserve.autoscaler.scale_to_zero import Activity, gate_scale_to_zero, started
from sdserve.autoscaler.window import TimedBuckets
from sdserve.spec.types import ServiceSpec

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 1.0  # Knative's metric bucket and scrape period
# What the activator reports at once for the first request of an idle revision.
POKE_CONCURRENCY = 1.0
# The local gateway routes every service, so every revision is reachable.
REACHABLE = True


class Scaler(Protocol):
    async def scale(self, desired: int) -> None: ...


@dataclass
class _Revision:
    """Everything the loop keeps for one service."""

    spec: ServiceSpec
    stable: TimedBuckets
    panic: TimedBuckets
    state: KpaState
    activity: Activity
    requested: int
    next_tick: float
    decision: Decision | None = None
    # The poke's report, taken back from the next sample as the activator does.
    poke_credit: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Autoscaler:
    def __init__(self, services: Sequence[ServiceSpec], *,
                 concurrency: Callable[[str, float], float],
                 ready_count: Callable[[str], int],
                 scalers: Mapping[str, Scaler],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        missing = [s.name for s in services if s.name not in scalers]
        if missing:
            raise ValueError(f"no scaler for service(s): {', '.join(missing)}")
        self._services = list(services)
        self._concurrency = concurrency
        self._ready_count = ready_count
        self._scalers = scalers
        self._clock = clock
        self._sleep = sleep
        self._revisions: dict[str, _Revision] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, now: float) -> None:
        """Ask for initial-scale replicas of every service (within min/max)."""
        for spec in self._services:
            settings = spec.autoscaling
            replicas = apply_bounds(settings.min_scale, settings.max_scale,
                                    settings.initial_scale)
            panic_window = max(settings.panic_window, SAMPLE_INTERVAL)
            revision = _Revision(
                spec=spec,
                stable=TimedBuckets(settings.stable_window, SAMPLE_INTERVAL),
                panic=TimedBuckets(panic_window, SAMPLE_INTERVAL),
                state=initial_state(settings, self._ready_count(spec.name), now),
                activity=started(now, replicas),
                requested=replicas,
                next_tick=now + settings.tick_interval,
            )
            self._revisions[spec.name] = revision
            await self._actuate(revision, replicas)

    def sample(self, now: float) -> None:
        """Record each service's concurrency since the previous sample."""
        for name, revision in self._revisions.items():
            value = self._concurrency(name, now)
            value, revision.poke_credit = max(0.0, value - revision.poke_credit), 0.0
            revision.stable.record(now, value)
            revision.panic.record(now, value)

    async def tick(self, now: float, service: str | None = None) -> None:
        """Decide and act for one service, or for every service."""
        names = [service] if service is not None else list(self._revisions)
        for name in names:
            revision = self._revisions[name]
            async with revision.lock:
                await self._decide(revision, now)

    async def _decide(self, revision: _Revision, now: float) -> None:
        settings = revision.spec.autoscaling
        ready = self._ready_count(revision.spec.name)
        decision, revision.state = decide(
            settings, revision.state,
            stable=revision.stable.window_average(now),
            panic=revision.panic.window_average(now),
            ready=ready, reachable=REACHABLE, now=now)
        revision.decision = decision
        replicas, revision.activity = gate_scale_to_zero(
            settings, revision.activity, decision.scaled, ready=ready, reachable=REACHABLE,
            progress_deadline=revision.spec.progress_deadline, now=now)
        if replicas != revision.requested:
            log.info("%s: scaling %d -> %d (stable %.3f, panic %.3f, panic mode %s)",
                     revision.spec.name, revision.requested, replicas,
                     decision.stable_concurrency, decision.panic_concurrency, decision.panic)
        revision.requested = replicas
        await self._actuate(revision, replicas)

    async def _actuate(self, revision: _Revision, replicas: int) -> None:
        try:
            await self._scalers[revision.spec.name].scale(replicas)
        except Exception:  # a failing runtime must not stop scaling of the others
            log.exception("%s: scale(%d) failed", revision.spec.name, replicas)

    def poke(self, service: str) -> None:
        """A request waits with zero ready replicas: record it and decide now."""
        revision = self._revisions.get(service)
        if revision is None or revision.requested != 0:
            return  # not started yet, or replicas are already on their way
        now = self._clock()
        revision.stable.record(now, POKE_CONCURRENCY)
        revision.panic.record(now, POKE_CONCURRENCY)
        revision.poke_credit = POKE_CONCURRENCY
        task = asyncio.get_running_loop().create_task(self.tick(now, service))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def status(self, service: str) -> Mapping[str, Any]:
        specs = {spec.name: spec for spec in self._services}
        if service not in specs:
            raise KeyError(f"unknown service {service!r}")
        revision = self._revisions.get(service)
        spec = specs[service]
        decision = revision.decision if revision else None
        return {
            "desired": revision.requested if revision else 0,
            "panic": decision.panic if decision else False,
            "stable_concurrency": decision.stable_concurrency if decision else 0.0,
            "panic_concurrency": decision.panic_concurrency if decision else 0.0,
            "target": kpa_target_value(spec.autoscaling),
            "excess_burst_capacity": decision.excess_burst_capacity if decision else 0,
        }

    async def run(self) -> None:
        """Sample every second and decide every tick until cancelled."""
        now = self._clock()
        await self.start(now)
        next_sample = now + SAMPLE_INTERVAL
        while True:
            wake = min([next_sample, *(r.next_tick for r in self._revisions.values())])
            await self._sleep(max(0.0, wake - self._clock()))
            now = self._clock()
            if now >= next_sample:
                self.sample(now)
                while next_sample <= now:  # a late wake-up skips samples, never bunches them
                    next_sample += SAMPLE_INTERVAL
            for name, revision in self._revisions.items():
                if now >= revision.next_tick:
                    revision.next_tick = now + revision.spec.autoscaling.tick_interval
                    await self.tick(now, name)
