"""The gateway double served for the dashboard's browser tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.dashboard.gateway_double import GatewayDouble, build_app


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, GatewayDouble]]:
    """The double on a free 127.0.0.1 port, in the test's loop."""
    app, double = build_app()
    async with serving(app) as url:
        yield url, double


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free 127.0.0.1 port in the test's loop; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
