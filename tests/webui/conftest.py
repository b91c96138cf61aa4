"""The A1111 double served for the web UI's browser tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from tests.webui.a1111_double import Double, build_app


@pytest.fixture
async def a1111() -> AsyncIterator[tuple[str, Double]]:
    """The double on a free 127.0.0.1 port, served by uvicorn in the test's loop."""
    app, double = build_app(step_seconds=0.1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", double
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
