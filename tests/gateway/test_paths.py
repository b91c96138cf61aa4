"""Streaming, Host routing and the /-/ admin paths, over real HTTP."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sdserve.gateway import Gateway
from sdserve.runtime.replica import Replica, ReplicaState

from .conftest import SECRET, StaticScaleStatus, spec, start

MIB = 1 << 20


class StreamingEcho:
    """An upstream that counts what it receives and answers in slow chunks."""

    def __init__(self) -> None:
        self.first_chunk_seen = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * MIB)
        app.router.add_post("/upload", self.upload)
        app.router.add_get("/download", self.download)
        return app

    async def upload(self, request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"received": size})

    async def download(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"a" * MIB)
        # The rest only comes once the client has the first part: proof that
        # the gateway streams instead of buffering the whole answer.
        await asyncio.wait_for(self.first_chunk_seen.wait(), timeout=10)
        for _ in range(3):
            await response.write(b"b" * MIB)
        await response.write_eof()
        return response


async def test_streams_large_bodies_both_ways(harness, client):
    h = await harness()
    echo = StreamingEcho()
    runner, url = await start(echo.app())
    h.runners.append(runner)
    h.gateway.update_replica(Replica(id="sd-echo", service="sd", url=url, device="cpu",
                                     state=ReplicaState.READY, started_at=0.0))

    async def body():
        for _ in range(5):
            yield b"x" * MIB

    async with client.post(f"{h.url}/upload", data=body()) as response:
        assert await response.json() == {"received": 5 * MIB}
    async with client.get(f"{h.url}/download") as response:
        received = len(await response.content.readexactly(MIB))
        echo.first_chunk_seen.set()
        received += len(await response.read())
    assert received == 4 * MIB


async def test_routes_by_host(harness, client):
    h = await harness(spec("alpha"), spec("beta"))
    alpha = await h.add_worker("alpha")
    beta = await h.add_worker("beta")
    for host, upstream in (("alpha.default.example.com:8080", alpha),
                           ("beta.default.example.com", beta)):
        async with client.post(f"{h.url}/sdapi/v1/txt2img", json={"sleep": 0},
                               headers={"Host": host}) as response:
            assert response.status == 200
        assert upstream.worker.served == 1
    async with client.get(f"{h.url}/", headers={"Host": "gamma.default.example.com"}) as response:
        assert response.status == 404
        assert "Host" in (await response.json())["detail"]


async def test_admin_paths(harness, client):
    h = await harness(spec(cookie=True))
    upstream = await h.add_worker()
    async with client.get(f"{h.url}/-/healthz") as response:
        assert (response.status, await response.text()) == (200, "ok")
    async with client.get(f"{h.url}/-/nothing") as response:
        assert response.status == 404
    async with client.get(f"{h.url}/-/status") as response:
        document = await response.json()
    (service,) = document["services"]
    assert {k: service[k] for k in ("name", "namespace", "host", "desired", "ready", "panic",
                                    "queue")} == {
        "name": "sd", "namespace": "default", "host": "sd.default.example.com",
        "desired": 2, "ready": 1, "panic": False, "queue": 0,
    }
    (replica,) = service["replicas"]
    assert replica["id"] == upstream.replica("sd").id
    assert (replica["state"], replica["device"], replica["in_flight"]) == ("ready", "cpu", 0)


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_change_as_requests_flow(harness, client):
    h = await harness()
    await h.add_worker()
    labels = (("configuration_name", "sd"), ("namespace_name", "default"),
              ("revision_name", "sd"), ("service_name", "sd"))
    ok = tuple(sorted((*labels, ("response_code", "200"), ("response_code_class", "2xx"))))

    async def metrics() -> dict:
        async with client.get(f"{h.url}/-/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            return scrape(await response.text())

    before = await metrics()
    assert ("revision_request_count_total", ok) not in before
    assert before[("actual_pods", labels)] == 1
    assert before[("desired_pods", labels)] == 2
    assert before[("excess_burst_capacity", labels)] == -3
    for _ in range(3):
        async with client.post(f"{h.url}/sdapi/v1/txt2img", json={"sleep": 0}) as response:
            assert response.status == 200
    after = await metrics()
    assert after[("revision_request_count_total", ok)] == 3
    assert after[("revision_app_request_count_total", ok)] == 3
    assert after[("revision_request_latencies_count", ok)] == 3
    inf = tuple(sorted((*ok, ("le", "+Inf"))))
    assert after[("revision_request_latencies_bucket", inf)] == 3
    for name in ("activator_request_concurrency", "sdserve_gateway_queue_length",
                 "not_ready_pods", "pending_pods", "terminating_pods", "panic_mode",
                 "stable_request_concurrency", "panic_request_concurrency",
                 "target_concurrency_per_pod", "requested_pods"):
        assert (name, labels) in after, name


async def test_access_log_line_per_request(harness, client, caplog):
    h = await harness()
    await h.add_worker()
    with caplog.at_level("INFO", logger="sdserve.gateway.access"):
        async with client.post(f"{h.url}/sdapi/v1/txt2img", json={"sleep": 0},
                               headers={"X-Request-Id": "r-1"}) as response:
            await response.read()
    (line,) = [json.loads(r.getMessage()) for r in caplog.records
               if r.name == "sdserve.gateway.access"]
    assert {k: line[k] for k in ("request_id", "method", "path", "status", "service")} == {
        "request_id": "r-1", "method": "POST", "path": "/sdapi/v1/txt2img", "status": 200,
        "service": "sd",
    }
    assert line["replica"] and line["duration_ms"] >= line["queued_ms"] >= 0


async def test_admin_routes_added_later_win_over_the_catch_alls(harness, client):
    h = await harness()
    app = Gateway([spec()], secret=SECRET, poke=h.pokes.append,
                  scale_status=StaticScaleStatus()).app()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="dashboard")

    app.router.add_get("/-/dashboard", page)
    runner, url = await start(app)
    h.runners.append(runner)
    async with client.get(f"{url}/-/dashboard") as response:
        assert (response.status, await response.text()) == (200, "dashboard")
    async with client.get(f"{url}/-/healthz") as response:
        assert response.status == 200
