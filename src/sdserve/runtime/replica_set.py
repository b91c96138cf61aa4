"""One service's replicas as local child processes: Knative's pod lifecycle on one machine.

A single reconcile task compares the desired count (from the autoscaler's
`scale`) with the live replicas and starts or drains; each replica has a lifecycle
task that probes it to READY, watches it while it lives, and publishes STOPPED when
its process exits. Every state change is published through `on_change`. A replica
still not READY after the spec's progress deadline is drained and replaced, with
the crash back-off (progress_deadline.py).

Given a `standby_command`, the set also keeps one warm standby (standby.py) and
starts each new replica from it when it is ready, cold otherwise. The standby
that replaces a handed-over one starts only once that replica is READY (or gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from sdserve.runtime import checks, process
from sdserve.runtime.backoff import restart_delay
from sdserve.runtime.devices import CPU, pick_device
from sdserve.runtime.environment import replica_env, shared_env, thread_share, usable_cores
from sdserve.runtime.plan import plan
from sdserve.runtime.ports import LOOPBACK, free_port
from sdserve.runtime.probes import (
    DEFAULT_PROBE,
    READINESS_POLL,
    ProbeRecord,
    Verdict,
    liveness_period,
    readiness_period,
)
from sdserve.runtime.progress_deadline import (
    past_progress_deadline,
    seconds_to_progress_deadline,
)
from sdserve.runtime.replica import STANDBY_DISABLED, Replica, ReplicaState, StandbySnapshot
from sdserve.runtime.standby import Standby
from sdserve.spec.types import ServiceSpec

log = logging.getLogger(__name__)

# Kubernetes' default terminationGracePeriodSeconds: SIGTERM, then SIGKILL this much later.
DEFAULT_GRACE_PERIOD = 30.0
# How often a drain looks at the replica's in-flight count.
DRAIN_POLL = 0.05


@dataclass
class _Member:
    """A replica we own: its latest snapshot and its process."""

    replica: Replica
    process: asyncio.subprocess.Process
    stopping: bool = False  # we asked it to go: its exit is not a crash
    lifecycle: asyncio.Task[None] | None = None


class ReplicaSet:
    def __init__(
        self,
        spec: ServiceSpec,
        *,
        command: Sequence[str],
        standby_command: Sequence[str] | None = None,
        env: Mapping[str, str] = {},
        devices: Sequence[str] = (CPU,),
        on_change: Callable[[Replica], None],
        in_flight: Callable[[str], int],
        grace_period: float = DEFAULT_GRACE_PERIOD,
        readiness_poll: float = READINESS_POLL,
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not command:
            raise ValueError("command: must name the replica program, got an empty argv")
        self._spec = spec
        self._command = list(command)
        self._env = dict(env)
        self._devices = list(devices) or [CPU]
        self._on_change = on_change
        self._in_flight = in_flight
        self._grace_period = grace_period
        self._probe = spec.container.readiness_probe or DEFAULT_PROBE
        self._readiness_period = readiness_period(self._probe, readiness_poll)
        self._threads = thread_share(cores or usable_cores(), spec.autoscaling.max_scale)
        self._clock = clock
        self._members: dict[str, _Member] = {}
        self._used_ids: set[str] = set()
        self._desired = 0
        self._crashes = 0  # in a row, reset when a replica gets ready
        self._restart_not_before = 0.0
        self._wake = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None
        self._drains: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._standby = (
            Standby(standby_command, on_change=self._wake.set, clock=clock)
            if standby_command else None
        )
        self._heir: str | None = None  # the replica that took the last standby over

    @property
    def replicas(self) -> list[Replica]:
        """Current snapshots of every replica not yet stopped."""
        return [member.replica for member in self._members.values()]

    @property
    def standby(self) -> StandbySnapshot:
        """The warm standby the next replica start would use, as /-/status shows it."""
        return self._standby.snapshot if self._standby is not None else STANDBY_DISABLED

    async def scale(self, desired: int) -> None:
        """Ask for `desired` live replicas; starting and draining happen in the background."""
        if desired < 0:
            raise ValueError(f"desired: must be >= 0, got {desired}")
        if self._closed:
            return
        self._desired = desired
        if self._reconciler is None:
            self._reconciler = asyncio.create_task(self._reconcile())
        self._wake.set()

    async def close(self) -> None:
        """Drain and stop every replica; returns when no replica process is left."""
        self._closed = True
        self._desired = 0
        if self._reconciler is not None:
            # Woken rather than cancelled, so that a spawn under way is recorded, not leaked.
            self._wake.set()
            await self._reconciler
        for member in list(self._members.values()):
            if not member.stopping:
                self._begin_drain(member)
        await asyncio.gather(*self._drains)
        await asyncio.gather(*(m.lifecycle for m in list(self._members.values()) if m.lifecycle))
        if self._standby is not None:
            await self._standby.close()
        if self._session is not None:
            await self._session.close()

    # The reconcile loop.

    async def _reconcile(self) -> None:
        while not self._closed:
            self._wake.clear()
            self._give_up_on_stuck(self._clock())
            decision = plan(
                self._desired,
                self._live(),
                self._in_flight,
                now=self._clock(),
                restart_not_before=self._restart_not_before,
            )
            for _ in range(decision.start):
                if self._closed or not await self._start_one():
                    break
            for replica_id in decision.stop:
                self._begin_drain(self._members[replica_id])
            # After the starts and drains, which may end a wait for the standby's heir.
            standby_wait = await self._keep_standby()
            deadline_wait = seconds_to_progress_deadline(
                self._live(), self._clock(), self._spec.progress_deadline
            )
            waits = [w for w in (decision.wake_in, standby_wait, deadline_wait) if w is not None]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(waits, default=None))

    def _live(self) -> list[Replica]:
        return [m.replica for m in self._members.values() if not m.stopping]

    def _give_up_on_stuck(self, now: float) -> None:
        """Drain every replica past its progress deadline. It counts as a crash, so that
        a model that never loads is retried with back-off, not in a tight loop."""
        deadline = self._spec.progress_deadline
        stuck = [m for m in self._members.values()
                 if past_progress_deadline(m.replica.started_at, now, deadline, m.replica.state)]
        for member in stuck:
            log.warning("%s: replica %s did not become ready within the progress deadline "
                        "(%gs, serving.knative.dev/progress-deadline); stopping it (a "
                        "replacement waits out the crash back-off)",
                        self._spec.name, member.replica.id, deadline)
            self._record_crash()
            self._begin_drain(member)

    async def _start_one(self) -> bool:
        in_use: dict[str, int] = {}
        for member in self._members.values():
            in_use[member.replica.device] = in_use.get(member.replica.device, 0) + 1
        device = pick_device(self._devices, in_use, self._spec.container.gpus)
        started_at = self._clock()
        replica_id = self._new_id()
        try:
            port = free_port()
            env = self._replica_env(port=port, device=device)
            proc = None
            if self._standby is not None:
                proc = await self._standby.hand_over(port, env, replica_id)
                if proc is not None:
                    self._heir = replica_id
            if proc is None:
                proc = await process.spawn(self._command, env)
        except OSError as error:
            log.error("%s: cannot start replica %s: %s", self._spec.name, self._command, error)
            self._record_crash()
            return False
        replica = Replica(
            id=replica_id,
            service=self._spec.name,
            url=f"http://{LOOPBACK}:{port}",
            device=device,
            state=ReplicaState.STARTING,
            started_at=started_at,
            pid=proc.pid,
        )
        member = _Member(replica=replica, process=proc)
        self._members[replica.id] = member
        self._publish(member, ReplicaState.STARTING)
        member.lifecycle = asyncio.create_task(self._lifecycle(member))
        return True

    async def _keep_standby(self) -> float | None:
        if self._standby is None or self._heir_is_starting():
            return None
        # The environment every replica shares, so that what the standby's imports
        # read is what a cold replica's would have read.
        return await self._standby.keep(shared_env(self._replica_env(port=0, device=CPU)))

    def _heir_is_starting(self) -> bool:
        """Whether the replica that took the last standby still loads its model.

        A new standby's imports compete for the cores with that replica's model load
        and its first request: on a 2-core host they made SD 1.5's scale from zero
        4.8 s slower. So the replacement waits until the heir is READY, draining or
        gone (its READY wakes the reconcile loop)."""
        heir = self._members.get(self._heir) if self._heir is not None else None
        return heir is not None and heir.replica.state is ReplicaState.STARTING

    def _replica_env(self, *, port: int, device: str) -> dict[str, str]:
        return replica_env(
            inherited=os.environ,
            container_env=self._spec.container.env,
            extra=self._env,
            port=port,
            device=device,
            threads=self._threads,
        )

    def _new_id(self) -> str:
        while True:
            candidate = f"{self._spec.name}-{secrets.token_hex(3)}"
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _record_crash(self) -> None:
        self._crashes += 1
        self._restart_not_before = self._clock() + restart_delay(self._crashes)

    def _publish(self, member: _Member, state: ReplicaState) -> None:
        member.replica = dataclasses.replace(member.replica, state=state)
        try:
            self._on_change(member.replica)
        except Exception:
            # A listener's bug must not leave a process unsupervised.
            log.exception("%s: on_change failed for %s", self._spec.name, member.replica.id)

    # One replica's life.

    async def _lifecycle(self, member: _Member) -> None:
        watch = asyncio.create_task(self._watch(member))
        try:
            returncode = await member.process.wait()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        # Whatever the replica itself started goes with it.
        process.signal_group(member.process.pid, signal.SIGKILL)
        del self._members[member.replica.id]
        self._publish(member, ReplicaState.STOPPED)
        if not member.stopping:
            log.warning("%s: replica %s exited unexpectedly (code %s)",
                        self._spec.name, member.replica.id, returncode)
            self._record_crash()
        self._wake.set()

    async def _watch(self, member: _Member) -> None:
        """Probe to READY, then keep probing until the replica stops answering."""
        await self._until_ready(member)
        if member.stopping:
            return
        self._crashes = 0
        self._publish(member, ReplicaState.READY)
        self._wake.set()  # a standby held back for this replica may start now
        record = ProbeRecord()
        while record.verdict(self._probe) is not Verdict.FAILING:
            await asyncio.sleep(liveness_period(self._probe))
            if member.stopping:
                return
            record = record.after(await self._probe_once(member))
        log.warning("%s: replica %s stopped answering its probe; killing it",
                    self._spec.name, member.replica.id)
        process.signal_group(member.process.pid, signal.SIGKILL)

    async def _until_ready(self, member: _Member) -> None:
        await asyncio.sleep(self._probe.initial_delay)
        # Before READY a failing probe only means "not yet" (Kubernetes readiness).
        record = ProbeRecord()
        while True:
            record = record.after(await self._probe_once(member))
            if record.verdict(self._probe) is Verdict.PASSING:
                break
            await asyncio.sleep(self._readiness_period)
        healthz = f"{member.replica.url}/healthz"
        while await checks.http_status(self._http(), healthz, self._probe.timeout) != 200:
            await asyncio.sleep(self._readiness_period)

    async def _probe_once(self, member: _Member) -> bool:
        port = int(member.replica.url.rsplit(":", 1)[1])
        return await checks.run_probe(self._http(), self._probe, LOOPBACK, port)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # Scale-down.

    def _begin_drain(self, member: _Member) -> None:
        member.stopping = True
        self._publish(member, ReplicaState.DRAINING)
        task = asyncio.create_task(self._drain(member))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, member: _Member) -> None:
        """No new requests reach a DRAINING replica; let those in flight finish (at most
        the service's request timeout), then SIGTERM, then SIGKILL after the grace."""
        deadline = self._clock() + self._spec.timeout_seconds
        while (
            member.process.returncode is None
            and self._in_flight(member.replica.id) > 0
            and self._clock() < deadline
        ):
            await asyncio.sleep(DRAIN_POLL)
        await process.stop(member.process, self._grace_period)
        if member.lifecycle is not None:
            await member.lifecycle
