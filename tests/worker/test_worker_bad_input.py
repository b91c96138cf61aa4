"""Bad input gets a clear 4xx naming the field, and the worker stays healthy."""

from __future__ import annotations

import pytest

from tests.worker.conftest import FAST, TEST_SETTINGS


def loc_fields(response) -> list:
    return [entry["loc"][-1] for entry in response.json()["detail"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": "many"}, "steps"),
        ({"width": 65}, "width"),
        ({"height": 100}, "height"),
        ({"width": 1024}, "width"),  # above --max-size 512
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"batch_size": 3, "n_iter": 3}, "batch_size"),  # 9 images > --max-images 8
        ({"batch_size": 0}, "batch_size"),
        ({"prompt": ["not", "a", "string"]}, "prompt"),
    ],
)
def test_txt2img_422_names_the_field(client, change, field):
    r = client.post("/sdapi/v1/txt2img", json={**FAST, **change})
    assert r.status_code == 422, r.text
    assert field in loc_fields(r)


def test_unknown_sampler_lists_the_valid_ones(client):
    r = client.post("/sdapi/v1/txt2img", json={**FAST, "sampler_name": "Nope"})
    assert r.status_code == 422
    assert loc_fields(r) == ["sampler_name"]
    assert "Euler a" in r.json()["detail"][0]["msg"]


def test_not_json_is_422(client):
    r = client.post("/sdapi/v1/txt2img", content=b"{not json",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"init_images": ["!!not base64!!"]}, "init_images[0]"),
        ({"init_images": ["aGVsbG8="]}, "init_images[0]"),  # base64 of "hello"
        ({"init_images": []}, "init_images"),
        ({"mask": "@@@"}, "mask"),
        ({"denoising_strength": 1.5}, "denoising_strength"),
    ],
)
def test_img2img_422_names_the_field(client, change, field):
    from PIL import Image

    from tests.worker.conftest import b64_image

    payload = {**FAST, "init_images": [b64_image(Image.new("RGB", (64, 64)))], **change}
    r = client.post("/sdapi/v1/img2img", json=payload)
    assert r.status_code == 422, r.text
    assert field in loc_fields(r)


def test_png_info_with_bad_base64(client):
    r = client.post("/sdapi/v1/png-info", json={"image": "%%%"})
    assert r.status_code == 422
    assert loc_fields(r) == ["image"]


def test_declared_body_above_the_limit_is_413(client):
    big = b"x" * (TEST_SETTINGS.max_body_bytes + 1)
    r = client.post("/sdapi/v1/txt2img", content=big,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "max-body-mb" in r.json()["detail"]


def test_streamed_body_above_the_limit_is_413(client):
    def chunks():
        for _ in range(TEST_SETTINGS.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    r = client.post("/sdapi/v1/txt2img", content=chunks(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_is_404_in_the_webui_shape(client):
    r = client.get("/sdapi/v1/nothing-here")
    assert r.status_code == 404
    assert set(r.json()) == {"error", "detail", "body", "errors"}


def test_still_healthy_after_all_that(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/sdapi/v1/txt2img", json=FAST).status_code == 200
