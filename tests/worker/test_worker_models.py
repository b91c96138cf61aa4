"""Models and settings: sd-models, options (switching), override_settings,
refresh-checkpoints, samplers, schedulers, memory."""

from __future__ import annotations

import json

from tests.worker.conftest import FAST


def titles(client) -> dict[str, str]:
    return {m["model_name"]: m["title"] for m in client.get("/sdapi/v1/sd-models").json()}


def current(client) -> str:
    return client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]


def test_sd_models_lists_both_shipped_tiny_models(client):
    models = client.get("/sdapi/v1/sd-models").json()
    for entry in models:
        assert set(entry) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    names = {m["model_name"] for m in models}
    assert {"tiny", "tiny-b"} <= names


def test_switching_models_through_options(client):
    models = titles(client)
    original = current(client)
    first = client.post("/sdapi/v1/txt2img", json=FAST).json()
    try:
        r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": models["tiny-b"]})
        assert r.status_code == 200
        assert current(client) == models["tiny-b"]  # POST returned after the switch
        other = client.post("/sdapi/v1/txt2img", json=FAST).json()
        assert json.loads(other["info"])["sd_model_name"] == "tiny-b"
        assert other["images"] != first["images"]
    finally:
        client.post("/sdapi/v1/options", json={"sd_model_checkpoint": original})
    assert current(client) == original


def test_override_settings_switch_for_one_request(client):
    original = current(client)
    body = client.post(
        "/sdapi/v1/txt2img",
        json={**FAST, "override_settings": {"sd_model_checkpoint": "tiny-b"}},
    ).json()
    assert json.loads(body["info"])["sd_model_name"] == "tiny-b"
    assert current(client) == original  # restored afterwards


def test_unknown_model_is_404(client):
    original = current(client)
    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model"})
    assert r.status_code == 404
    assert set(r.json()) == {"error", "detail", "body", "errors"}
    assert "no-such-model" in r.json()["detail"]
    r = client.post(
        "/sdapi/v1/txt2img",
        json={**FAST, "override_settings": {"sd_model_checkpoint": "no-such-model"}},
    )
    assert r.status_code == 404
    assert current(client) == original


def test_options_keep_known_settings(client):
    assert client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2,
                                                   "made_up_option": 1}).status_code == 200
    try:
        options = client.get("/sdapi/v1/options").json()
        assert options["CLIP_stop_at_last_layers"] == 2
        assert "made_up_option" not in options
    finally:
        client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})


def test_refresh_checkpoints(client):
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    assert "tiny" in titles(client)


def test_samplers_and_schedulers(client):
    samplers = client.get("/sdapi/v1/samplers").json()
    names = {s["name"] for s in samplers}
    assert {"Euler a", "Euler", "DPM++ 2M", "DDIM", "UniPC"} <= names
    assert all(set(s) == {"name", "aliases", "options"} for s in samplers)
    schedulers = client.get("/sdapi/v1/schedulers").json()
    assert {"Automatic", "Karras"} <= {s["label"] for s in schedulers}


def test_every_sampler_generates(client):
    for sampler in ("Euler", "DPM++ 2M Karras", "DDIM"):
        r = client.post("/sdapi/v1/txt2img", json={**FAST, "sampler_name": sampler})
        assert r.status_code == 200, (sampler, r.text)
        assert json.loads(r.json()["info"])["sampler_name"] == sampler


def test_memory(client):
    body = client.get("/sdapi/v1/memory").json()
    assert set(body) == {"ram", "cuda"}
