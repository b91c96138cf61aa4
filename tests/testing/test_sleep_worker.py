"""The sleep worker double: in-process over a real socket, and as a real process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sdserve.testing.sleep_worker import Job, SleepWorker, progress_response, sleep_seconds


async def start(worker: SleepWorker) -> TestServer:
    server = TestServer(worker.app(), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def client() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    server = await start(SleepWorker(seconds=0.05, load_seconds=0, now=time.monotonic()))
    async with aiohttp.ClientSession() as session:
        yield session, str(server.make_url(""))
    await server.close()


async def test_txt2img_answers_a1111_shape_with_a_png(client):
    session, base = client
    async with session.post(f"{base}/sdapi/v1/txt2img", json={"prompt": "pretty dog"}) as r:
        assert r.status == 200
        body = await r.json()
    assert base64.b64decode(body["images"][0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert body["parameters"] == {"prompt": "pretty dog"}
    info = json.loads(body["info"])
    assert info["prompt"] == "pretty dog"
    assert info["all_prompts"] == ["pretty dog"]
    assert info["pid"] == os.getpid()


async def test_stats_count_concurrency_and_served(client):
    session, base = client
    bodies = [{"sleep": 0.3}] * 3
    posts = [session.post(f"{base}/sdapi/v1/txt2img", json=b) for b in bodies]
    tasks = [asyncio.ensure_future(p) for p in posts]
    # Wait until all three are inside the worker, then look at its counters.
    while True:
        async with session.get(f"{base}/-/double/stats") as r:
            stats = await r.json()
        if stats["in_flight"] == 3:
            break
        await asyncio.sleep(0.01)
    for response in await asyncio.gather(*tasks):
        assert response.status == 200
        response.release()
    async with session.get(f"{base}/-/double/stats") as r:
        stats = await r.json()
    assert stats == {"in_flight": 0, "max_in_flight": 3, "served": 3, "pid": os.getpid()}


async def test_interrupt_ends_the_running_sleep(client):
    session, base = client
    job = asyncio.ensure_future(session.post(f"{base}/sdapi/v1/txt2img", json={"sleep": 600}))
    while True:
        async with session.get(f"{base}/sdapi/v1/progress") as r:
            progress = await r.json()
        if progress["state"]["job_count"] == 1:
            break
        await asyncio.sleep(0.01)
    assert progress["state"]["job"] == "txt2img"
    async with session.post(f"{base}/sdapi/v1/interrupt") as r:
        assert r.status == 200
    response = await asyncio.wait_for(job, timeout=10)
    assert response.status == 200
    response.release()
    # A later request is not ended by the earlier interrupt.
    async with session.post(f"{base}/sdapi/v1/txt2img", json={"sleep": 0.01}) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"sleep": "long"}', "sleep"),
        (b'{"sleep": -1}', "sleep"),
        (b"not json", "body"),
        (b"[1, 2]", "body"),
    ],
)
async def test_bad_body_is_422_naming_the_field(client, payload, field):
    session, base = client
    async with session.post(f"{base}/sdapi/v1/txt2img", data=payload) as r:
        assert r.status == 422
        detail = (await r.json())["detail"][0]
    assert detail["msg"].startswith(f"{field}:")


async def test_healthz_is_503_while_loading():
    loading = await start(SleepWorker(seconds=0, load_seconds=600, now=time.monotonic()))
    loaded = await start(SleepWorker(seconds=0, load_seconds=0, now=time.monotonic()))
    async with aiohttp.ClientSession() as session:
        async with session.get(loading.make_url("/healthz")) as r:
            assert r.status == 503
        async with session.get(loaded.make_url("/healthz")) as r:
            assert r.status == 200
    await loading.close()
    await loaded.close()


@pytest.mark.parametrize(
    ("body", "want"),
    [({}, 2.0), ({"sleep": 0}, 0.0), ({"sleep": 1.5}, 1.5), ({"sleep": 3}, 3.0)],
)
def test_sleep_seconds(body, want):
    assert sleep_seconds(body, 2.0) == want


@pytest.mark.parametrize("value", [True, None, "1", -0.5, [1]])
def test_sleep_seconds_rejects(value):
    with pytest.raises(ValueError, match=r"^sleep:"):
        sleep_seconds({"sleep": value}, 1.0)


def test_progress_of_idle_and_running():
    assert progress_response([], now=5.0)["progress"] == 0.0
    running = progress_response([Job(started_at=1.0, seconds=4.0)], now=2.0)
    assert running["progress"] == 0.25
    assert running["eta_relative"] == 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
async def test_process_honours_port_and_finishes_in_flight_on_sigterm():
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdserve.testing.sleep_worker", "--load-seconds", "0.3"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            status = None
            while status != 200:
                try:
                    async with session.get(f"{base}/healthz") as r:
                        status = r.status
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
            job = asyncio.ensure_future(
                session.post(f"{base}/sdapi/v1/txt2img", json={"sleep": 1.0})
            )
            while True:
                async with session.get(f"{base}/-/double/stats") as r:
                    if (await r.json())["in_flight"] == 1:
                        break
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            response = await asyncio.wait_for(job, timeout=10)
            assert response.status == 200
            response.release()
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
