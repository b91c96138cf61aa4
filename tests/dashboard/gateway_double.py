"""A test double of the gateway's admin side: `/-/status` and `/-/metrics` that move.

Every scrape of `/-/metrics` first records a few more requests (prometheus-client,
Knative's metric names and labels), and every read of `/-/status` shows one more
replica starting or becoming ready, as a burst of load would. The real dashboard
routes are added, as the gateway will add them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sdserve.dashboard import add_routes

SERVICE = "stable-diffusion"
LABELS = {"namespace_name": "default", "service_name": SERVICE,
          "configuration_name": SERVICE, "revision_name": f"{SERVICE}-00001"}
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
MAX_REPLICAS = 4


class GatewayDouble:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        names = list(LABELS)
        self.requests = Counter("revision_request_count", "requests",
                                [*names, "response_code", "response_code_class"],
                                registry=self.registry)
        self.latency = Histogram("revision_request_latencies", "latency ms", names,
                                 buckets=LATENCY_BUCKETS_MS, registry=self.registry)
        self.gauges = {n: Gauge(n, n, names, registry=self.registry)
                       for n in ("desired_pods", "actual_pods", "not_ready_pods",
                                 "stable_request_concurrency", "panic_request_concurrency",
                                 "target_concurrency_per_pod", "panic_mode")}
        self.scrapes = 0
        self.reads = 0

    def scrape(self) -> bytes:
        self.scrapes += 1
        for i in range(5):
            code = "503" if i == 4 and self.scrapes % 3 == 0 else "200"
            self.requests.labels(**LABELS, response_code=code,
                                 response_code_class=f"{code[0]}xx").inc()
            self.latency.labels(**LABELS).observe(400 + 600 * i)
        replicas = min(MAX_REPLICAS, 1 + self.scrapes // 2)
        for name, value in (("desired_pods", replicas), ("actual_pods", replicas),
                            ("stable_request_concurrency", 2.5),
                            ("panic_request_concurrency", 4.0),
                            ("target_concurrency_per_pod", 1.0), ("panic_mode", 1)):
            self.gauges[name].labels(**LABELS).set(value)
        return generate_latest(self.registry)

    def status(self) -> dict[str, Any]:
        self.reads += 1
        count = min(MAX_REPLICAS, 1 + self.reads // 2)
        replicas = [
            {"id": f"{SERVICE}-{i:06x}", "state": "starting" if i == count - 1 and i else "ready",
             "device": "cpu", "in_flight": i % 2, "started_at": 100.0 + i,
             "uptime": 3600.0 - 700 * i, "pid": 4000 + i, "images_served": 10 * i}
            for i in range(count)
        ]
        ready = sum(r["state"] == "ready" for r in replicas)
        return {"services": [{
            "name": SERVICE, "namespace": "default", "host": f"{SERVICE}.default.example.com",
            "desired": MAX_REPLICAS, "ready": ready, "panic": True, "queue": max(0, 6 - self.reads),
            "stable_concurrency": 2.5, "panic_concurrency": 4.0, "target": 1.0,
            "replicas": replicas,
        }]}


def build_app() -> tuple[web.Application, GatewayDouble]:
    double = GatewayDouble()

    async def status(request: web.Request) -> web.Response:
        return web.json_response(double.status())

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=double.scrape(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/-/status", status)
    app.router.add_get("/-/metrics", metrics)
    add_routes(app)
    return app, double
