"""/favicon.ico and /robots.txt are the gateway's own: a browser opening the web UI
or the dashboard must not queue, poke the autoscaler or wake a scaled-to-zero
service by itself. The web UI at / still goes to a replica."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from sdserve.gateway.browser import ROBOTS_TXT
from sdserve.runtime.replica import Replica, ReplicaState

from .conftest import start


async def test_a_scaled_to_zero_service_is_not_woken(harness, client):
    h = await harness()  # no replica: scaled to zero
    async with client.get(f"{h.url}/favicon.ico") as response:
        assert response.status == 204
        assert await response.read() == b""
    async with client.head(f"{h.url}/favicon.ico") as response:
        assert response.status == 204
    async with client.get(f"{h.url}/robots.txt") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == ROBOTS_TXT
    async with client.get(f"{h.url}/-/status") as response:
        service = (await response.json())["services"][0]
    assert (service["queue"], service["in_flight"]) == (0, 0)
    assert h.pokes == []


async def test_the_web_ui_still_wakes_the_service(harness, client):
    h = await harness()
    with pytest.raises(asyncio.TimeoutError):
        async with client.get(f"{h.url}/", timeout=aiohttp.ClientTimeout(total=0.5)):
            pass
    assert h.pokes == ["sd"]


async def test_a_replica_sees_only_the_web_ui(harness, client):
    h = await harness()
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="<html>web ui</html>", content_type="text/html")

    upstream = web.Application()
    upstream.router.add_get("/{tail:.*}", record)
    runner, url = await start(upstream)
    h.runners.append(runner)
    h.gateway.update_replica(Replica(id="sd-1", service="sd", url=url, device="cpu",
                                     state=ReplicaState.READY, started_at=0.0, pid=None))
    for path in ("/favicon.ico", "/robots.txt", "/"):
        async with client.get(f"{h.url}{path}") as response:
            assert response.status in (200, 204)
    assert seen == ["/"]
