"""The worker's FastAPI app: routes, error handlers, wrappers, and the model
loading that starts in the background as soon as the server listens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from sdserve import __version__, webui
from sdserve.engine.sources import start_hashing
from sdserve.worker.access_log import AccessLog
from sdserve.worker.body_limit import BodyLimit
from sdserve.worker.engine_host import EngineHost, build_engine
from sdserve.worker.errors import CatchAll, install_error_handlers
from sdserve.worker.metrics import WorkerMetrics
from sdserve.worker.routes import control, generate, health, info, models
from sdserve.worker.settings import WorkerSettings

log = logging.getLogger("sdserve.worker")


def create_app(
    settings: WorkerSettings,
    *,
    engine_factory: Callable = build_engine,
    on_load_failed: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """`on_load_failed` lets the CLI exit when the model cannot load; without it the
    app stays up and /healthz keeps answering 503 with the error."""
    metrics = WorkerMetrics()
    host = EngineHost(settings, metrics, engine_factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Overlaps the model's sha256 with the engine's imports (torch, diffusers).
        start_hashing(settings.model)
        loading = asyncio.create_task(host.load_first_model())
        if on_load_failed is not None:
            loading.add_done_callback(
                lambda t: t.cancelled() or t.exception() is None or on_load_failed(t.exception())
            )
        try:
            yield
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await loading
            await asyncio.to_thread(host.close)

    app = FastAPI(
        title="sdserve worker",
        version=__version__,
        description="An AUTOMATIC1111-compatible Stable Diffusion API on diffusers.",
        lifespan=lifespan,
    )
    app.state.host = host
    for router in (generate, control, models, info, health):
        app.include_router(router.router)
    webui.mount(app)  # the browser UI at /
    install_error_handlers(app)
    # Added innermost first. Errors are caught inside the log, so every request is logged
    # and counted with the status it really got; oversized bodies never parse.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAll)
    app.add_middleware(AccessLog, metrics=metrics)
    return app
