"""A running job seen and steered from other connections: progress, interrupt,
skip, and requests that wait for the one-job lock."""

from __future__ import annotations

import base64
import json
import threading

import httpx

from tests.worker.conftest import FAST, SLOW, running_job, wait_until


def start(base_url: str, payload: dict) -> tuple[threading.Thread, dict]:
    """POST txt2img from a thread of its own; the result lands in the dict."""
    result: dict = {}

    def post() -> None:
        with httpx.Client(base_url=base_url, timeout=300) as c:
            r = c.post("/sdapi/v1/txt2img", json=payload)
            result["status"], result["body"] = r.status_code, r.json()

    thread = threading.Thread(target=post)
    thread.start()
    return thread, result


def test_idle_progress(client):
    body = client.get("/sdapi/v1/progress").json()
    assert body["progress"] == 0
    assert body["state"]["job_count"] == 0
    assert body["current_image"] is None


def test_progress_from_a_second_connection_then_interrupt(base_url, client):
    thread, result = start(base_url, SLOW)
    progress = running_job(client)
    assert progress["state"]["job"] == "txt2img"
    assert progress["state"]["job_count"] == SLOW["n_iter"]
    assert progress["state"]["sampling_steps"] == SLOW["steps"]
    assert 0 < progress["progress"] < 1
    assert progress["eta_relative"] >= 0
    assert progress["current_image"] is None  # skip_current_image=true
    with_preview = client.get("/sdapi/v1/progress").json()
    if with_preview["current_image"] is not None:
        assert base64.b64decode(with_preview["current_image"]).startswith(b"\x89PNG")
    assert client.post("/sdapi/v1/interrupt").status_code == 200
    thread.join(timeout=120)
    assert result["status"] == 200
    # Interrupted long before all 8 batches of 150 steps: fewer images come back.
    assert len(result["body"]["images"]) < SLOW["n_iter"]
    # The worker is healthy for the next request.
    assert client.post("/sdapi/v1/txt2img", json=FAST).status_code == 200
    assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0


def test_skip_moves_to_the_next_batch(base_url, client):
    payload = {**SLOW, "n_iter": 2}
    thread, result = start(base_url, payload)
    running_job(client)
    assert client.post("/sdapi/v1/skip").status_code == 200
    wait_until(
        lambda: client.get("/sdapi/v1/progress", params={"skip_current_image": "true"})
        .json()["state"]["job_no"] >= 1
        or "status" in result
    )
    client.post("/sdapi/v1/interrupt")
    thread.join(timeout=120)
    assert result["status"] == 200


def test_concurrent_requests_wait_for_the_lock(base_url, client):
    threads = [start(base_url, {**FAST, "seed": 10 + i}) for i in range(3)]
    for thread, _ in threads:
        thread.join(timeout=120)
    seeds = sorted(json.loads(r["body"]["info"])["seed"] for _, r in threads)
    assert [r["status"] for _, r in threads] == [200, 200, 200]
    assert seeds == [10, 11, 12]
    metrics = client.get("/metrics").text
    assert "sdserve_worker_jobs_waiting 0.0" in metrics
    assert "sdserve_worker_job_running 0.0" in metrics
