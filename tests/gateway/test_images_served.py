"""/-/status counts, per replica, the generation calls it answered 2xx through the
gateway: errors, other paths and progress polls do not count."""

from __future__ import annotations

import aiohttp

from sdserve.runtime.replica import ReplicaState

from .conftest import spec


async def replicas(client: aiohttp.ClientSession, url: str) -> dict[str, dict]:
    async with client.get(f"{url}/-/status") as response:
        service = (await response.json())["services"][0]
    return {r["id"]: r for r in service["replicas"]}


async def call(client: aiohttp.ClientSession, method: str, url: str, **kwargs) -> int:
    async with client.request(method, url, **kwargs) as response:
        await response.read()
        return response.status


async def test_counts_2xx_generations_per_replica(harness, client):
    h = await harness(spec(cc=1))
    first = await h.add_worker(seconds=0.01)
    second = await h.add_worker(seconds=0.01)
    assert {r["images_served"] for r in (await replicas(client, h.url)).values()} == {0}

    good = [await call(client, "POST", f"{h.url}/sdapi/v1/txt2img", json={"prompt": "dog"})
            for _ in range(5)]
    rejected = await call(client, "POST", f"{h.url}/sdapi/v1/txt2img", json={"sleep": -1})
    # The sleep worker has no img2img: a replica's 404 is not an image.
    missing = await call(client, "POST", f"{h.url}/sdapi/v1/img2img", json={"prompt": "dog"})
    progress = await call(client, "GET", f"{h.url}/sdapi/v1/progress")
    assert (good, rejected, missing, progress) == ([200] * 5, 422, 404, 200)

    served = await replicas(client, h.url)
    by_url = {u.url: u for u in (first, second)}
    for replica in h.gateway.views()[0].replicas:
        worker = by_url[replica.replica.url].worker
        assert served[replica.replica.id]["images_served"] == worker.served
    assert sum(r["images_served"] for r in served.values()) == 5


async def test_a_stopped_replica_takes_its_count_away(harness, client):
    h = await harness()
    upstream = await h.add_worker(seconds=0.01)
    assert await call(client, "POST", f"{h.url}/sdapi/v1/txt2img", json={}) == 200
    replica = upstream.replica("sd")
    assert (await replicas(client, h.url))[replica.id]["images_served"] == 1
    h.gateway.update_replica(upstream.replica("sd", ReplicaState.STOPPED))
    h.gateway.update_replica(replica)
    assert (await replicas(client, h.url))[replica.id]["images_served"] == 0
