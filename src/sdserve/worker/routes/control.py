"""The running job: GET progress, POST interrupt and skip.

None of these take the engine lock, so they answer while a generation runs.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from sdserve.worker.engine_host import EngineHost
from sdserve.worker.images import encode_png
from sdserve.worker.job import progress_report
from sdserve.worker.routes.deps import engine_host
from sdserve.worker.schemas import ProgressResponse

router = APIRouter(prefix="/sdapi/v1", tags=["progress"])
Host = Annotated[EngineHost, Depends(engine_host)]


@router.get("/progress", response_model=ProgressResponse)
async def progress(host: Host, skip_current_image: bool = False) -> ProgressResponse:
    report = progress_report(host.job, time.time())
    latest = host.job.latest
    current_image = None
    if not skip_current_image and latest is not None and latest.preview is not None:
        preview = latest.preview
        current_image = await run_in_threadpool(lambda: encode_png(preview()))
    return ProgressResponse(**report, current_image=current_image)


@router.post("/interrupt")
async def interrupt(host: Host) -> dict:
    host.job.interrupt()
    return {}


@router.post("/skip")
async def skip(host: Host) -> dict:
    host.job.skip()
    return {}
