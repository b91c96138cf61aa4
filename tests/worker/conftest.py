"""A real worker for the endpoint tests: the real app and the real tiny-model
engine in an in-process uvicorn server on a free 127.0.0.1 port, shared by the
module's tests (loading a model once keeps the suite fast)."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from PIL import Image

from sdserve.worker import WorkerSettings, create_app

# Small limits so that the limit tests need small bodies.
TEST_SETTINGS = WorkerSettings(max_size=512, max_images=8, max_body_mb=1.0)
# A request the tiny model answers in a fraction of a second.
FAST = {"prompt": "pretty dog", "width": 64, "height": 64, "steps": 4, "seed": 1234}
# A request slow enough to be caught running (many steps, several batches).
SLOW = {"prompt": "slow dog", "width": 128, "height": 128, "steps": 150, "n_iter": 8, "seed": 7}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def png_bytes(image_b64: str) -> bytes:
    return base64.b64decode(image_b64)


def b64_image(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(TEST_SETTINGS), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=120)
    yield url
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as c:
        yield c


def running_job(client: httpx.Client) -> dict:
    """Wait until a job has done at least one sampling step; returns the progress."""

    def stepping() -> dict | None:
        body = client.get("/sdapi/v1/progress", params={"skip_current_image": "true"}).json()
        return body if body["state"]["sampling_step"] > 0 else None

    return wait_until(stepping)
