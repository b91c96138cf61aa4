"""txt2img, img2img and png-info through real HTTP with the real tiny model."""

from __future__ import annotations

import io
import json

from PIL import Image

from sdserve.engine.infotext import parse_infotext
from tests.worker.conftest import FAST, b64_image, png_bytes


def txt2img(client, **fields):
    r = client.post("/sdapi/v1/txt2img", json={**FAST, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def test_txt2img_answers_the_webui_shape(client):
    body = txt2img(client)
    assert len(body["images"]) == 1
    image = Image.open(io.BytesIO(png_bytes(body["images"][0])))
    assert image.format == "PNG"
    assert image.size == (64, 64)
    # parameters: the request with the webui's defaults filled in
    assert body["parameters"]["prompt"] == "pretty dog"
    assert body["parameters"]["sampler_name"] == "Euler a"
    assert body["parameters"]["cfg_scale"] == 7.0
    info = json.loads(body["info"])
    for key in ("prompt", "all_prompts", "negative_prompt", "seed", "all_seeds", "subseed",
                "all_subseeds", "width", "height", "sampler_name", "cfg_scale", "steps",
                "batch_size", "sd_model_name", "sd_model_hash", "infotexts", "job_timestamp",
                "version"):
        assert key in info, key
    assert info["seed"] == 1234
    assert info["steps"] == 4
    assert info["infotexts"][0] == image.info["parameters"]


def test_same_seed_gives_identical_pngs(client):
    assert txt2img(client)["images"] == txt2img(client)["images"]


def test_other_seed_gives_other_images(client):
    assert txt2img(client, seed=1)["images"] != txt2img(client, seed=2)["images"]


def test_image_i_uses_seed_plus_i(client):
    body = txt2img(client, seed=1000, batch_size=2, n_iter=2)
    info = json.loads(body["info"])
    assert len(body["images"]) == 4
    assert info["all_seeds"] == [1000, 1001, 1002, 1003]
    assert info["seed"] == 1000


def test_random_seed_is_reported(client):
    info = json.loads(txt2img(client, seed=-1, batch_size=2)["info"])
    assert info["seed"] >= 0
    assert info["all_seeds"] == [info["seed"], info["seed"] + 1]


def test_send_images_false_returns_no_images(client):
    assert txt2img(client, send_images=False)["images"] == []


def test_unknown_fields_are_accepted(client):
    assert len(txt2img(client, no_such_field=[1, 2], script_name=None)["images"]) == 1


def test_infotext_round_trips_through_png_info(client):
    body = txt2img(client, negative_prompt="blurry")
    r = client.post("/sdapi/v1/png-info", json={"image": body["images"][0]})
    assert r.status_code == 200
    got = r.json()
    assert got["info"] == json.loads(body["info"])["infotexts"][0]
    assert got["info"].startswith("pretty dog\nNegative prompt: blurry\nSteps: 4")
    assert got["parameters"] == parse_infotext(got["info"])
    assert str(got["parameters"]["Seed"]) == "1234"


def test_png_info_of_an_image_without_text(client):
    plain = b64_image(Image.new("RGB", (8, 8)))
    r = client.post("/sdapi/v1/png-info", json={"image": plain})
    assert r.json() == {"info": "", "items": {}, "parameters": {}}
    assert client.post("/sdapi/v1/png-info", json={"image": ""}).json()["info"] == ""


def img2img(client, **fields):
    init = b64_image(Image.new("RGB", (64, 64), (200, 30, 30)))
    payload = {**FAST, "init_images": [init], "denoising_strength": 0.5, **fields}
    r = client.post("/sdapi/v1/img2img", json=payload)
    assert r.status_code == 200, r.text
    return r.json()


def test_img2img(client):
    body = img2img(client)
    image = Image.open(io.BytesIO(png_bytes(body["images"][0])))
    assert image.size == (64, 64)
    assert body["parameters"]["init_images"] is None  # not echoed back
    assert json.loads(body["info"])["denoising_strength"] == 0.5


def test_img2img_at_strength_zero_gives_the_init_image_back(client):
    """A1111 still takes one step at the lowest noise; diffusers took none and failed (500)."""
    body = img2img(client, denoising_strength=0.0)
    pixels = Image.open(io.BytesIO(png_bytes(body["images"][0]))).convert("RGB")
    red = sum(pixels.getpixel((x, y))[0] for x in range(0, 64, 8) for y in range(0, 64, 8))
    assert red / 64 > 150  # the init is (200, 30, 30)
    assert json.loads(body["info"])["denoising_strength"] == 0.0


def test_img2img_accepts_a_data_url(client):
    init = "data:image/png;base64," + b64_image(Image.new("RGB", (64, 64), (0, 90, 0)))
    assert len(img2img(client, init_images=[init])["images"]) == 1


def test_inpainting_with_a_mask(client):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    plain = img2img(client)["images"][0]
    inpainted = img2img(client, mask=b64_image(mask), mask_blur=2)
    assert len(inpainted["images"]) == 1
    assert inpainted["images"][0] != plain


def test_hires_fix(client):
    """The webui's hires fix: first pass at width x height, second at hr_scale times it."""
    body = txt2img(client, enable_hr=True, hr_scale=2, denoising_strength=0.6,
                   hr_second_pass_steps=4, hr_sampler_name="Use same sampler")
    image = Image.open(io.BytesIO(png_bytes(body["images"][0])))
    assert image.size == (128, 128)
    info = json.loads(body["info"])
    assert (info["width"], info["height"]) == (64, 64)
    assert info["denoising_strength"] == 0.6
    text = parse_infotext(info["infotexts"][0])
    assert text["Hires upscale"] == "2" and text["Hires steps"] == "4"
    assert text["Hires upscaler"] == "Latent"


def test_hires_fix_to_an_explicit_size(client):
    body = txt2img(client, enable_hr=True, hr_resize_x=128, hr_upscaler="Lanczos", height=32)
    image = Image.open(io.BytesIO(png_bytes(body["images"][0])))
    assert image.size == (128, 64)
    assert parse_infotext(json.loads(body["info"])["infotexts"][0])["Hires resize"] == "128x64"


def test_hires_fix_with_an_unknown_upscaler_is_a_422_listing_them(client):
    r = client.post("/sdapi/v1/txt2img",
                    json={**FAST, "enable_hr": True, "hr_upscaler": "ESRGAN_4x"})
    assert r.status_code == 422, r.text
    assert "hr_upscaler" in r.text and "Lanczos" in r.text


def test_img2img_with_a_variation_seed_is_a_422(client):
    """Not silently ignored (the infotext used to claim a variation seed it never used)."""
    init = b64_image(Image.new("RGB", (64, 64), (200, 30, 30)))
    r = client.post("/sdapi/v1/img2img", json={**FAST, "init_images": [init], "subseed": 5,
                                                "subseed_strength": 0.5})
    assert r.status_code == 422, r.text
    assert "subseed_strength" in r.text and "txt2img" in r.text
