"""POST /sdapi/v1/txt2img and /sdapi/v1/img2img."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from sdserve.worker.convert import (
    generation_request,
    info_document,
    parameters,
    split_checkpoint,
)
from sdserve.worker.engine_host import EngineHost
from sdserve.worker.errors import invalid_fields
from sdserve.worker.images import decode_image, encode_png
from sdserve.worker.limits import limit_violations
from sdserve.worker.routes.deps import engine_host
from sdserve.worker.schemas import GenerationBody, GenerationResponse, Img2ImgBody, Txt2ImgBody

router = APIRouter(prefix="/sdapi/v1", tags=["generation"])
Host = Annotated[EngineHost, Depends(engine_host)]


def _check_limits(host: EngineHost, body: GenerationBody) -> None:
    problems = limit_violations(
        body, max_size=host.settings.max_size, max_images=host.settings.max_images
    )
    if problems:
        raise invalid_fields(problems)


async def _run(host: EngineHost, job: str, body: GenerationBody, **images) -> GenerationResponse:
    checkpoint, overrides = split_checkpoint(body.override_settings)
    _, stored = split_checkpoint(host.options)
    request = generation_request(body, settings={**stored, **overrides}, **images)
    engine = await host.engine()
    engine.validate(request)
    result, model, timestamp = await host.generate(
        job,
        request,
        checkpoint=checkpoint,
        restore_checkpoint=body.override_settings_restore_afterwards,
    )
    encoded = await run_in_threadpool(lambda: [encode_png(i) for i in result.images])
    info = info_document(body, result, model, job_timestamp=timestamp)
    return GenerationResponse(
        images=encoded if body.send_images else [],
        parameters=parameters(body),
        info=json.dumps(info),
    )


@router.post("/txt2img", response_model=GenerationResponse)
async def txt2img(body: Txt2ImgBody, host: Host) -> GenerationResponse:
    _check_limits(host, body)
    return await _run(host, "txt2img", body)


@router.post("/img2img", response_model=GenerationResponse)
async def img2img(body: Img2ImgBody, host: Host) -> GenerationResponse:
    _check_limits(host, body)
    if not body.init_images:
        raise invalid_fields([("init_images", "img2img needs at least one init image")])

    def decode_all():
        init = tuple(
            decode_image(data, f"init_images[{i}]") for i, data in enumerate(body.init_images)
        )
        mask = decode_image(body.mask, "mask") if body.mask else None
        return init, mask

    init_images, mask = await run_in_threadpool(decode_all)
    return await _run(host, "img2img", body, init_images=init_images, mask=mask)
