"""The data path against real sleep-worker replicas: slots, queue, timeouts, retries."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp

from sdserve.runtime.replica import Replica, ReplicaState

from .conftest import spec


async def txt2img(client: aiohttp.ClientSession, url: str, *, sleep: float | None = None,
                  headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    body = {"prompt": "pretty dog"} if sleep is None else {"prompt": "pretty dog", "sleep": sleep}
    async with client.post(f"{url}/sdapi/v1/txt2img", json=body, headers=headers) as response:
        await response.read()
        return response


async def stats(client: aiohttp.ClientSession, upstream_url: str) -> dict:
    async with client.get(f"{upstream_url}/-/double/stats") as response:
        return await response.json()


async def test_proxies_a_request_with_request_id_and_forwarded_headers(harness, client):
    h = await harness()
    await h.add_worker()
    async with client.post(f"{h.url}/sdapi/v1/txt2img", json={"prompt": "a cat", "sleep": 0},
                           headers={"X-Request-Id": "abc-123"}) as response:
        assert response.status == 200
        assert response.headers["X-Request-Id"] == "abc-123"
        info = json.loads((await response.json())["info"])
    assert info["prompt"] == "a cat"


async def test_slots_are_never_exceeded(harness, client):
    h = await harness(spec(cc=2))
    first = await h.add_worker(seconds=0.1)
    second = await h.add_worker(seconds=0.1)
    answers = await asyncio.gather(*(txt2img(client, h.url) for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20
    seen = [await stats(client, u.url) for u in (first, second)]
    assert [s["max_in_flight"] for s in seen] == [2, 2]
    assert sum(s["served"] for s in seen) == 20


async def test_fifo_order_with_one_slot(harness, client):
    h = await harness()
    await h.add_worker(seconds=0.05)
    finished: list[int] = []

    async def call(n: int) -> None:
        await txt2img(client, h.url)
        finished.append(n)

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(call(n)))
        await asyncio.sleep(0.01)  # arrival order = n
    await asyncio.gather(*tasks)
    assert finished == list(range(6))


async def test_full_queue_answers_503_with_retry_after(harness, client):
    h = await harness(queue_limit=1)
    await h.add_worker(seconds=0.5)
    running = asyncio.create_task(txt2img(client, h.url))
    await asyncio.sleep(0.1)
    queued = asyncio.create_task(txt2img(client, h.url))
    await asyncio.sleep(0.1)
    rejected = await txt2img(client, h.url)
    assert rejected.status == 503
    assert rejected.headers["Retry-After"] == "1"
    assert [(await running).status, (await queued).status] == [200, 200]


async def test_timeout_answers_504_and_interrupts_the_job(harness, client):
    h = await harness(spec(timeout=0.3))
    upstream = await h.add_worker(seconds=30)
    answer = await txt2img(client, h.url)
    assert answer.status == 504
    for _ in range(50):  # the interrupt is sent in the background
        if (await stats(client, upstream.url))["in_flight"] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await stats(client, upstream.url))["in_flight"] == 0
    assert h.gateway.in_flight(upstream.replica("sd").id) == 0


async def test_zero_ready_replicas_hold_the_request_and_poke(harness, client):
    h = await harness()
    starting = await h.add_worker(state=ReplicaState.STARTING)
    waiting = asyncio.create_task(txt2img(client, h.url))
    for _ in range(50):
        if h.pokes:
            break
        await asyncio.sleep(0.01)
    assert h.pokes == ["sd"]
    assert not waiting.done()
    h.gateway.update_replica(starting.replica("sd", ReplicaState.READY))
    assert (await waiting).status == 200


async def test_client_disconnect_frees_the_slot_and_interrupts(harness, client):
    h = await harness()
    upstream = await h.add_worker(seconds=30)
    queued_too = [asyncio.create_task(txt2img(client, h.url)) for _ in range(2)]
    await asyncio.sleep(0.2)
    for task in queued_too:  # one runs on the replica, one waits in the queue
        task.cancel()
    await asyncio.gather(*queued_too, return_exceptions=True)
    for _ in range(100):
        if (await stats(client, upstream.url))["in_flight"] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await stats(client, upstream.url))["in_flight"] == 0
    upstream.worker.seconds = 0
    assert (await txt2img(client, h.url)).status == 200
    assert h.gateway.views()[0].queue == 0


async def test_replica_refusing_before_headers_is_retried_on_another(harness, client):
    h = await harness()
    h.gateway.update_replica(_dead_replica("sd-dead"))
    live = await h.add_worker()
    answer = await txt2img(client, h.url)
    assert answer.status == 200
    assert (await stats(client, live.url))["served"] == 1


async def test_second_refusal_answers_502(harness, client):
    h = await harness()
    h.gateway.update_replica(_dead_replica("sd-dead-1"))
    h.gateway.update_replica(_dead_replica("sd-dead-2"))
    answer = await txt2img(client, h.url)
    assert answer.status == 502


async def test_progress_takes_no_slot(harness, client):
    h = await harness()
    await h.add_worker(seconds=30)
    busy = asyncio.create_task(txt2img(client, h.url))
    await asyncio.sleep(0.1)
    async with client.get(f"{h.url}/sdapi/v1/progress") as response:
        assert response.status == 200
        assert (await response.json())["state"]["job_count"] == 1
    async with client.post(f"{h.url}/sdapi/v1/interrupt") as response:
        assert response.status == 200
    assert (await busy).status == 200


def _dead_replica(replica_id: str) -> Replica:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Replica(id=replica_id, service="sd", url=f"http://127.0.0.1:{port}", device="cpu",
                   state=ReplicaState.READY, started_at=time.monotonic())
