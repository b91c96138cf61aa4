"""Models and settings: options, sd-models, refresh-checkpoints, samplers, schedulers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from sdserve.worker.convert import CHECKPOINT_OPTION, split_checkpoint
from sdserve.worker.engine_host import EngineHost
from sdserve.worker.routes.deps import engine_host
from sdserve.worker.schemas import SamplerItem, SchedulerItem, SDModelItem

router = APIRouter(prefix="/sdapi/v1", tags=["models"])
Host = Annotated[EngineHost, Depends(engine_host)]


@router.get("/options")
async def get_options(host: Host) -> dict[str, Any]:
    engine = await host.engine()
    current = engine.current
    return {**host.options, CHECKPOINT_OPTION: current.title if current else None}


@router.post("/options")
async def set_options(host: Host, changes: Annotated[dict[str, Any], Body()]) -> None:
    # The model first: an unknown one is a 404 and no other option changes.
    checkpoint, rest = split_checkpoint(changes)
    if checkpoint is not None:
        await host.switch_model(checkpoint)
    await host.set_options(rest)


@router.get("/sd-models", response_model=list[SDModelItem])
async def sd_models(host: Host) -> list[SDModelItem]:
    engine = await host.engine()
    return [SDModelItem(**vars(m)) for m in engine.list_models()]


@router.post("/refresh-checkpoints")
async def refresh_checkpoints(host: Host) -> None:
    await host.refresh()


@router.get("/samplers", response_model=list[SamplerItem])
async def samplers(host: Host) -> list[dict]:
    return (await host.engine()).samplers()


@router.get("/schedulers", response_model=list[SchedulerItem])
async def schedulers(host: Host) -> list[dict]:
    return (await host.engine()).schedulers()
