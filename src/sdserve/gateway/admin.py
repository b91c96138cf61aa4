"""Admin paths under /-/: health, status JSON, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sdserve.gateway.metrics import metrics_registry
from sdserve.gateway.views import ServiceView, status_document


def routes(
    views: Callable[[], Sequence[ServiceView]], clock: Callable[[], float]
) -> list[web.RouteDef]:
    registry = metrics_registry(views)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        return web.json_response(status_document(list(views()), now=clock()))

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [
        web.get("/-/healthz", healthz),
        web.get("/-/status", status),
        web.get("/-/metrics", metrics),
    ]


async def not_found(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": "Not Found", "detail": f"path: no admin endpoint at {request.path}"},
        status=404,
    )
