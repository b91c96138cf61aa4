"""`sdserve worker` as a real process: $PORT, /healthz 503 then 200, SIGTERM
during a generation, a model that cannot load, and writes kept in the data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdserve.worker.data_dir import CACHE_FOLDERS
from tests.worker.conftest import FAST, SLOW, free_port, running_job, wait_until

pytestmark = pytest.mark.slow


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def port_from_env() -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    proc = spawn(env={"PORT": str(port)})
    yield proc, f"http://127.0.0.1:{port}"
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def health_codes(url: str, proc: subprocess.Popen) -> list[int]:
    """Every /healthz answer until the first 200."""
    codes: list[int] = []

    def ready() -> bool:
        assert proc.poll() is None, "the worker exited before it was ready"
        try:
            codes.append(httpx.get(f"{url}/healthz", timeout=5).status_code)
        except httpx.TransportError:
            return False
        return codes[-1] == 200

    wait_until(ready, timeout=120, interval=0.01)
    return codes


def test_port_env_and_healthz_turns_ready(port_from_env):
    proc, url = port_from_env
    codes = health_codes(url, proc)
    # It listens before the model is loaded: 503 while loading, then 200.
    assert codes[0] == 503
    assert set(codes[:-1]) == {503}
    assert codes[-1] == 200


def test_sigterm_finishes_the_running_job_and_exits_0(port_from_env):
    proc, url = port_from_env
    health_codes(url, proc)
    payload = {**SLOW, "width": 64, "height": 64, "n_iter": 1, "steps": 40}
    result: dict = {}

    def post() -> None:
        r = httpx.post(f"{url}/sdapi/v1/txt2img", json=payload, timeout=300)
        result["status"], result["images"] = r.status_code, len(r.json()["images"])

    thread = threading.Thread(target=post)
    thread.start()
    with httpx.Client(base_url=url, timeout=30) as client:
        running_job(client)
    proc.send_signal(signal.SIGTERM)
    thread.join(timeout=300)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert result == {"status": 200, "images": 1}
    assert "POST /sdapi/v1/txt2img" in log  # one access line per request, on stdout


def test_a_model_that_cannot_load_exits_1():
    proc = spawn("--port", str(free_port()), "--model", "/no/such/model.safetensors")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "no/such/model" in output


def test_bad_option_exits_2():
    proc = spawn("--device", "tpu")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "device" in output


def test_writes_nothing_outside_the_data_dir(tmp_path: Path):
    home, cwd, tmp, data = (tmp_path / name for name in ("home", "cwd", "tmp", "data"))
    for folder in (home, cwd, tmp):
        folder.mkdir()
    # The user's own cache settings would hide where the worker puts its caches.
    env = {k: v for k, v in os.environ.items() if k not in {*CACHE_FOLDERS, "XDG_CACHE_HOME"}}
    port = free_port()
    env |= {"HOME": str(home), "TMPDIR": str(tmp), "SDSERVE_DATA_DIR": str(data),
            "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1"],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        health_codes(url, proc)
        reply = httpx.post(f"{url}/sdapi/v1/txt2img", json=FAST, timeout=120)
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert data.is_dir()
    assert [list(folder.rglob("*")) for folder in (home, cwd, tmp)] == [[], [], []]
