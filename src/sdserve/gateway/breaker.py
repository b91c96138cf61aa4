"""Per-replica slots and a per-service FIFO queue (Knative's breaker + throttler).

A request holds one slot of one replica for its whole life. Without a free
slot it waits in a bounded FIFO queue; a full queue refuses at once. Only
READY replicas take new requests; a DRAINING one keeps its slots until the
requests it runs finish. No sockets here, no clock: waiting is bounded by the
caller (the request's deadline cancels `acquire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sdserve.gateway.balancer import choose_replica


class QueueFull(Exception):
    """The service's queue holds `queue_limit` waiting requests already."""


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[str]
    pinned: str | None  # affinity: only this replica will do, while it is ready
    exclude: frozenset[str] = field(default_factory=frozenset)


class Breaker:
    def __init__(
        self, container_concurrency: int, *, queue_limit: int, rng: random.Random | None = None
    ) -> None:
        if container_concurrency < 0:
            raise ValueError(f"container_concurrency: must be >= 0, got {container_concurrency}")
        if queue_limit < 0:
            raise ValueError(f"queue_limit: must be >= 0, got {queue_limit}")
        self._capacity = container_concurrency  # 0 = unlimited
        self._queue_limit = queue_limit
        self._rng = rng or random.Random()
        self._cursor = 0
        self._in_use: dict[str, int] = {}  # every live replica, ready or draining
        self._ready: dict[str, None] = {}  # an ordered set: READY replicas in start order
        self._queue: deque[_Waiter] = deque()
        self._waiting = 0

    # -- replicas -------------------------------------------------------------

    def set_ready(self, replica_id: str, ready: bool) -> None:
        """Adds or updates a replica; not ready = starting or draining (no new requests)."""
        self._in_use.setdefault(replica_id, 0)
        if ready:
            self._ready.setdefault(replica_id, None)
        else:
            self._ready.pop(replica_id, None)
            self._unpin(replica_id)
        self._dispatch()

    def remove(self, replica_id: str) -> None:
        self._in_use.pop(replica_id, None)
        self._ready.pop(replica_id, None)
        self._unpin(replica_id)

    def is_ready(self, replica_id: str) -> bool:
        return replica_id in self._ready

    def is_live(self, replica_id: str) -> bool:
        """Ready or draining: it may still be running a request."""
        return replica_id in self._in_use

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    def in_flight(self, replica_id: str) -> int:
        return self._in_use.get(replica_id, 0)

    @property
    def active(self) -> int:
        """Requests holding a slot."""
        return sum(self._in_use.values())

    @property
    def queued(self) -> int:
        return self._waiting

    def least_loaded_ready(self) -> str | None:
        """For requests that take no slot (progress, interrupt)."""
        return min(self._ready, key=self.in_flight, default=None)

    # -- slots ----------------------------------------------------------------

    async def acquire(self, *, pinned: str | None = None, exclude: Iterable[str] = ()) -> str:
        """Waits for a slot and returns its replica id; raises QueueFull at once.

        `pinned` is honoured while that replica is ready; `exclude` names
        replicas that must not serve this request (one that just failed it).
        """
        # A request that would be served at once never counts against the limit.
        if self._waiting >= self._queue_limit and (self._waiting or not self._free_replicas()):
            raise QueueFull(f"queue: {self._waiting} requests waiting (limit {self._queue_limit})")
        if pinned is not None and pinned not in self._ready:
            pinned = None
        waiter = _Waiter(asyncio.get_running_loop().create_future(), pinned, frozenset(exclude))
        self._queue.append(waiter)
        self._waiting += 1
        self._dispatch()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Granted and cancelled in the same loop turn: give the slot back.
                self.release(waiter.future.result())
            else:
                self._waiting -= 1
                # _dispatch may have dropped it already (its future was cancelled first).
                with contextlib.suppress(ValueError):
                    self._queue.remove(waiter)
            raise

    def release(self, replica_id: str) -> None:
        if self._in_use.get(replica_id, 0) > 0:
            self._in_use[replica_id] -= 1
            self._dispatch()

    # -- internals ------------------------------------------------------------

    def _has_room(self, replica_id: str) -> bool:
        return self._capacity == 0 or self._in_use[replica_id] < self._capacity

    def _free_replicas(self) -> list[str]:
        return [r for r in self._ready if self._has_room(r)]

    def _unpin(self, replica_id: str) -> None:
        for waiter in self._queue:
            if waiter.pinned == replica_id:
                waiter.pinned = None

    def _dispatch(self) -> None:
        """Hands free slots to waiters in FIFO order; a waiter that cannot use
        any free slot (pinned elsewhere, or all excluded) keeps its place."""
        free = self._free_replicas()
        skipped: list[_Waiter] = []
        while free and self._queue:
            waiter = self._queue.popleft()
            if waiter.future.done():  # cancelled; its acquire() is about to clean up
                continue
            target = self._target(waiter, free)
            if target is None:
                skipped.append(waiter)
                continue
            self._in_use[target] += 1
            self._waiting -= 1
            waiter.future.set_result(target)
            if not self._has_room(target):
                free.remove(target)
        self._queue.extendleft(reversed(skipped))

    def _target(self, waiter: _Waiter, free: list[str]) -> str | None:
        if waiter.pinned is not None:
            return waiter.pinned if waiter.pinned in free else None
        candidates = [r for r in free if r not in waiter.exclude]
        if not candidates:
            return None
        choice, self._cursor = choose_replica(
            candidates, self._in_use, self._capacity, cursor=self._cursor, rng=self._rng
        )
        return choice
