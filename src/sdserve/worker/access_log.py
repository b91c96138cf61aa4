"""ASGI wrapper: request id, one log line per request, request metrics.

`X-Request-Id` is echoed when the client (or the gateway) sent one, and made up
otherwise, so a log line can always be matched to a response. Requests are
counted by route template (`/sdapi/v1/txt2img`), never by raw path, so that
unknown paths cannot blow up the metric's label set.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdserve.worker.metrics import WorkerMetrics

log = logging.getLogger("sdserve.worker.access")
REQUEST_ID = b"x-request-id"


def route_label(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: WorkerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = dict(scope["headers"]).get(REQUEST_ID) or uuid.uuid4().hex.encode()
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_label(scope)
            self.metrics.requests.labels(route=route, code=str(status)).inc()
            client = (scope.get("client") or ("-", 0))[0]
            log.info(
                '%s "%s %s" %d %.1fms id=%s',
                client,
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                request_id.decode("latin-1"),
            )
