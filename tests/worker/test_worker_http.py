"""The plain HTTP face: /healthz, /metrics, request ids, /docs and /openapi.json."""

from __future__ import annotations

from tests.worker.conftest import FAST


def test_healthz_ready(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_request_id_is_echoed_or_made_up(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers[
        "x-request-id"
    ] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_metrics_count_requests_images_and_time(client):
    client.post("/sdapi/v1/txt2img", json={**FAST, "batch_size": 2})
    client.post("/sdapi/v1/txt2img", json={**FAST, "steps": 0})
    text = client.get("/metrics").text
    assert 'sdserve_worker_requests_total{code="200",route="/sdapi/v1/txt2img"}' in text
    assert 'sdserve_worker_requests_total{code="422",route="/sdapi/v1/txt2img"}' in text
    assert "sdserve_worker_images_total" in text
    assert "sdserve_worker_generation_seconds_bucket" in text
    assert "sdserve_worker_sampling_steps_per_second" in text


def test_unmatched_paths_share_one_label(client):
    client.get("/a/b/c")
    assert 'route="unmatched"' in client.get("/metrics").text


def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/progress",
                 "/sdapi/v1/interrupt", "/sdapi/v1/skip", "/sdapi/v1/options",
                 "/sdapi/v1/sd-models", "/sdapi/v1/refresh-checkpoints", "/sdapi/v1/samplers",
                 "/sdapi/v1/schedulers", "/sdapi/v1/png-info", "/sdapi/v1/memory"):
        assert path in paths, path


def test_web_ui_is_served(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
