"""What the routes share: the app's EngineHost and settings."""

from __future__ import annotations

from fastapi import Request

from sdserve.worker.engine_host import EngineHost


def engine_host(request: Request) -> EngineHost:
    return request.app.state.host
