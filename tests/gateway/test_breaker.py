"""The breaker without sockets: slots, FIFO queue, pinning, exclusion, cancellation."""

from __future__ import annotations

import asyncio
import random

import pytest

from sdserve.gateway.breaker import Breaker, QueueFull


def breaker(cc: int = 1, *ready: str, queue_limit: int = 100) -> Breaker:
    made = Breaker(cc, queue_limit=queue_limit, rng=random.Random(0))
    for replica_id in ready:
        made.set_ready(replica_id, True)
    return made


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_slots_then_fifo_queue():
    b = breaker(1, "a", "b")
    assert [await b.acquire(), await b.acquire()] == ["a", "b"]
    waiters = [asyncio.create_task(b.acquire()) for _ in range(3)]
    await settle()
    assert (b.queued, b.active) == (3, 2)
    b.release("b")
    b.release("a")
    await settle()
    assert [w.done() for w in waiters] == [True, True, False]
    assert [waiters[0].result(), waiters[1].result()] == ["b", "a"]
    b.release("a")
    assert await waiters[2] == "a"
    assert b.queued == 0


async def test_unlimited_concurrency():
    b = breaker(0, "a")
    assert [await b.acquire() for _ in range(50)] == ["a"] * 50
    assert b.in_flight("a") == 50


async def test_queue_full_refuses_at_once():
    b = breaker(1, "a", queue_limit=1)
    await b.acquire()
    waiting = asyncio.create_task(b.acquire())
    await settle()
    with pytest.raises(QueueFull, match="queue"):
        await b.acquire()
    b.release("a")
    assert await waiting == "a"


async def test_zero_queue_limit_still_serves_free_slots():
    b = breaker(1, "a", queue_limit=0)
    assert await b.acquire() == "a"
    with pytest.raises(QueueFull):
        await b.acquire()


async def test_no_ready_replica_waits_until_one_is():
    b = breaker(1)
    b.set_ready("a", False)  # starting
    waiting = asyncio.create_task(b.acquire())
    await settle()
    assert not waiting.done() and b.ready_count == 0
    b.set_ready("a", True)
    assert await waiting == "a"


async def test_pinned_waits_for_its_replica_others_do_not():
    b = breaker(1, "a", "b")
    assert await b.acquire(pinned="a") == "a"
    pinned = asyncio.create_task(b.acquire(pinned="a"))
    await settle()
    assert not pinned.done()
    assert await b.acquire() == "b"  # an unpinned request behind it takes the free one
    b.release("a")
    assert await pinned == "a"


async def test_pinned_to_a_draining_replica_is_unpinned():
    b = breaker(1, "a", "b")
    await b.acquire(pinned="a")
    await b.acquire(pinned="b")
    pinned = asyncio.create_task(b.acquire(pinned="a"))
    await settle()
    b.set_ready("a", False)  # draining: no new work, keeps its running request
    assert b.is_live("a") and not b.is_ready("a")
    b.release("b")
    assert await pinned == "b"
    assert b.in_flight("a") == 1


async def test_exclude_skips_a_failed_replica():
    b = breaker(1, "a", "b")
    assert await b.acquire(exclude=["a"]) == "b"
    excluded = asyncio.create_task(b.acquire(exclude=["b"]))
    await settle()
    assert excluded.done() and excluded.result() == "a"


async def test_cancelled_waiter_leaves_the_queue():
    b = breaker(1, "a")
    await b.acquire()
    waiting = asyncio.create_task(b.acquire())
    await settle()
    waiting.cancel()
    await settle()
    assert b.queued == 0
    b.release("a")
    assert b.in_flight("a") == 0


async def test_removed_replica_releases_are_ignored():
    b = breaker(1, "a")
    await b.acquire()
    b.remove("a")
    b.release("a")
    assert (b.ready_count, b.in_flight("a"), b.is_live("a")) == (0, 0, False)


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="container_concurrency"):
        Breaker(-1, queue_limit=1)
    with pytest.raises(ValueError, match="queue_limit"):
        Breaker(1, queue_limit=-1)


async def test_least_loaded_ready():
    b = breaker(0, "a", "b")
    await b.acquire(pinned="a")
    assert b.least_loaded_ready() == "b"
    assert breaker(1).least_loaded_ready() is None
