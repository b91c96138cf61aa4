"""Errors as the webui answers them.

Validation problems are FastAPI's 422 `{"detail": [...]}` with the field in
`loc`; everything else is the webui's `{"error", "detail", "body", "errors"}`
with a 4xx/5xx code. No exception escapes to the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdserve.engine.errors import EngineError, InvalidRequest, ModelLoadError, ModelNotFound
from sdserve.worker.engine_host import NotReady
from sdserve.worker.images import ImageDecodeError

log = logging.getLogger("sdserve.worker")


def invalid_fields(problems: list[tuple[str, str]], body: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own format, one entry per (field, message)."""
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ("body", field), "msg": message, "input": None}
            for field, message in problems
        ],
        body=body,
    )


def webui_error(status: int, error: Exception, detail: str = "") -> JSONResponse:
    content = {
        "error": type(error).__name__,
        "detail": detail or str(error),
        "body": "",
        "errors": str(error),
    }
    return JSONResponse(status_code=status, content=jsonable_encoder(content))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    response = webui_error(error.status_code, error, str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


async def _model_not_found(request: Request, error: Exception) -> JSONResponse:
    return webui_error(404, error)


async def _bad_field(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidRequest | ImageDecodeError)
    message = error.message if isinstance(error, ImageDecodeError) else str(error)
    detail = [{"type": "value_error", "loc": ["body", error.field], "msg": message}]
    return JSONResponse(status_code=422, content={"detail": detail})


async def _not_ready(request: Request, error: Exception) -> JSONResponse:
    return webui_error(503, error)


async def _engine_failed(request: Request, error: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return webui_error(500, error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ModelNotFound, _model_not_found)
    app.add_exception_handler(InvalidRequest, _bad_field)
    app.add_exception_handler(ImageDecodeError, _bad_field)
    app.add_exception_handler(NotReady, _not_ready)
    app.add_exception_handler(ModelLoadError, _engine_failed)
    app.add_exception_handler(EngineError, _engine_failed)


class CatchAll:
    """ASGI wrapper: any other exception becomes the webui's 500 body instead of
    reaching the server (Starlette re-raises errors it answers with a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            log.exception("%s %s failed", scope["method"], scope["path"], exc_info=error)
            if not started:
                await webui_error(500, error)(scope, receive, send)
