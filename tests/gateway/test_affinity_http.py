"""Cookie affinity through the gateway, against real sleep-worker replicas."""

from __future__ import annotations

import aiohttp

from sdserve.gateway import affinity
from sdserve.runtime.replica import ReplicaState

from .conftest import SECRET, spec


async def call(client: aiohttp.ClientSession, url: str, cookie: str | None = None
               ) -> tuple[int, str | None]:
    headers = {"Cookie": f"sd={cookie}"} if cookie else {}
    async with client.post(f"{url}/sdapi/v1/txt2img", json={"sleep": 0},
                           headers=headers) as response:
        await response.read()
        morsel = response.cookies.get("sd")
        return response.status, None if morsel is None else morsel.value


async def served(client: aiohttp.ClientSession, upstream_url: str) -> int:
    async with client.get(f"{upstream_url}/-/double/stats") as response:
        return (await response.json())["served"]


def new_client() -> aiohttp.ClientSession:
    # No cookie jar: each test sends exactly the cookie it means to.
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def test_cookie_attributes_and_sticking(harness):
    h = await harness(spec(cc=1, cookie=True))
    first = await h.add_worker()
    second = await h.add_worker()
    async with new_client() as client, client.post(
        f"{h.url}/sdapi/v1/txt2img", json={"sleep": 0}
    ) as response:
        header = response.headers["Set-Cookie"]
        assert header.endswith("; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax")
        cookie = response.cookies["sd"].value
        pinned = affinity.verify(cookie, service="sd", secret=SECRET)
        assert pinned == first.replica("sd").id  # cc 1: the first free replica
        # The second replica is the pinned one from now on, even though the first is free.
        cookie = affinity.sign(second.replica("sd").id, service="sd", secret=SECRET)
        for _ in range(3):
            assert await call(client, h.url, cookie) == (200, cookie)
        assert await served(client, second.url) == 3


async def test_forged_and_foreign_cookies_are_ignored_and_reissued(harness):
    h = await harness(spec(cookie=True))
    only = await h.add_worker()
    good = affinity.sign(only.replica("sd").id, service="sd", secret=SECRET)
    forged = affinity.sign(only.replica("sd").id, service="sd", secret=b"not ours")
    foreign = affinity.sign(only.replica("sd").id, service="other", secret=SECRET)
    async with new_client() as client:
        for bad in (forged, foreign, "http://127.0.0.1:1", "garbage.value"):
            assert await call(client, h.url, bad) == (200, good)


async def test_cookie_moves_when_its_replica_stops(harness):
    h = await harness(spec(cookie=True))
    first = await h.add_worker()
    second = await h.add_worker()
    stale = affinity.sign(first.replica("sd").id, service="sd", secret=SECRET)
    h.gateway.update_replica(first.replica("sd", ReplicaState.STOPPED))
    fresh = affinity.sign(second.replica("sd").id, service="sd", secret=SECRET)
    async with new_client() as client:
        assert await call(client, h.url, stale) == (200, fresh)


async def test_no_cookie_without_affinity(harness):
    h = await harness(spec(cookie=False))
    await h.add_worker()
    async with new_client() as client, client.post(
        f"{h.url}/sdapi/v1/txt2img", json={"sleep": 0}
    ) as response:
        assert "Set-Cookie" not in response.headers
