"""POST /sdapi/v1/png-info and GET /sdapi/v1/memory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from sdserve.engine.infotext import parse_infotext
from sdserve.worker.engine_host import EngineHost
from sdserve.worker.images import decode_image, text_chunks
from sdserve.worker.routes.deps import engine_host
from sdserve.worker.schemas import MemoryResponse, PngInfoBody, PngInfoResponse

router = APIRouter(prefix="/sdapi/v1", tags=["info"])
Host = Annotated[EngineHost, Depends(engine_host)]


@router.post("/png-info", response_model=PngInfoResponse)
async def png_info(body: PngInfoBody) -> PngInfoResponse:
    if not body.image.strip():
        return PngInfoResponse(info="", items={}, parameters={})
    image = await run_in_threadpool(decode_image, body.image, "image")
    items = text_chunks(image)
    text = items.pop("parameters", "")
    return PngInfoResponse(info=text, items=items, parameters=parse_infotext(text) if text else {})


@router.get("/memory", response_model=MemoryResponse)
async def memory(host: Host) -> dict:
    engine = await host.engine()
    return await run_in_threadpool(engine.memory)
