"""The rendered container, run as a local process the way the image runs it: the
image's environment, the rendered command and args, $PORT from Knative. The real
worker accepts them, turns ready, serves, exits 0 on SIGTERM, logs to stdout, and
writes nothing into the (read-only on a cluster) models folder or its home."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.render.conftest import REPO, SEED

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_env() -> dict[str, str]:
    """The Dockerfile's ENV lines (without PATH, which names the image's venv)."""
    lines = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    pairs = [p.split("=", 1) for line in lines if line.startswith("ENV ")
             for p in shlex.split(line[4:])]
    return {k: v for k, v in pairs if k != "PATH"}


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_rendered_worker_runs_as_the_image_would(render, tmp_path):
    code, out, err = render(SEED, "--model", "tiny")
    assert code == 0, err
    service = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Service")
    container = service["spec"]["template"]["spec"]["containers"][0]
    models, home = tmp_path / "models", tmp_path / "home"
    models.mkdir()
    home.mkdir()
    (models / "README").write_text("weights go here\n")
    before = snapshot(models)

    env = image_env()
    data = tmp_path / env["SDSERVE_DATA_DIR"].lstrip("/")
    data.mkdir()
    env = {k: v.replace("/data", str(data), 1) if v.startswith("/data") else v
           for k, v in env.items()}
    env |= {e["name"]: e["value"] for e in container["env"]}
    port = free_port()
    args = [str(models) if a == "/models" else a for a in container["args"]]
    # Knative's queue-proxy reaches the worker on localhost; keep the test off other interfaces.
    args[args.index("--host") + 1] = "127.0.0.1"
    env |= {"SDSERVE_DEVICE": "cpu", "PORT": str(port), "HOME": str(home)}
    assert container["command"] == ["sdserve", "worker"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", *args],
        env={**os.environ, **env}, cwd=data, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        readiness = url + container["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the worker never became ready"
            try:
                if httpx.get(readiness).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        reply = httpx.post(f"{url}/sdapi/v1/txt2img", timeout=120,
                           json={"prompt": "pretty dog", "steps": 2, "width": 64, "height": 64})
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "POST /sdapi/v1/txt2img" in stdout
    assert snapshot(models) == before
    assert list(home.iterdir()) == []
