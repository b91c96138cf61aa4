"""GET /healthz (503 while the model loads, 200 once ready) and GET /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from sdserve.worker.engine_host import EngineHost, LoadState
from sdserve.worker.routes.deps import engine_host

router = APIRouter(tags=["health"])
Host = Annotated[EngineHost, Depends(engine_host)]


@router.get("/healthz")
async def healthz(host: Host) -> JSONResponse:
    body: dict = {"status": host.state.value, "model": host.settings.model}
    if host.load_error:
        body["error"] = host.load_error
    return JSONResponse(status_code=200 if host.state is LoadState.READY else 503, content=body)


@router.get("/metrics")
async def metrics(host: Host) -> Response:
    return Response(host.metrics.render(), media_type=host.metrics.content_type)
