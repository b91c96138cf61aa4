"""The configurable limits, and the webui field conventions of the schemas."""

from __future__ import annotations

from sdserve.worker.convert import parameters, split_checkpoint
from sdserve.worker.limits import limit_violations
from sdserve.worker.schemas import Img2ImgBody, Txt2ImgBody


def fields(body, **limits):
    return [f for f, _ in limit_violations(body, **{"max_size": 512, "max_images": 8, **limits})]


def test_within_limits():
    assert fields(Txt2ImgBody(width=512, height=64, batch_size=2, n_iter=4)) == []


def test_size_and_image_count_name_their_fields():
    assert fields(Txt2ImgBody(width=520, height=1024)) == ["width", "height"]
    assert fields(Txt2ImgBody(batch_size=3, n_iter=3)) == ["batch_size"]



def test_hires_fix_limits_name_their_fields():
    # 512 px times the default hr_scale of 2 is above the maximum of 512
    assert fields(Txt2ImgBody(enable_hr=True)) == ["hr_scale"]
    assert fields(Txt2ImgBody(enable_hr=True, width=256, height=256)) == []
    assert fields(Txt2ImgBody(enable_hr=True, width=256, hr_resize_x=600)) == ["hr_scale"]
    assert fields(Txt2ImgBody(enable_hr=True, width=64, height=64,
                              hr_checkpoint_name="other.safetensors")) == ["hr_checkpoint_name"]
    assert fields(Txt2ImgBody(enable_hr=True, width=64, height=64,
                              hr_checkpoint_name="Use same checkpoint")) == []
    # without enable_hr the hr_* fields are ignored, as the webui does
    assert fields(Txt2ImgBody(hr_scale=8.0)) == []


def test_sampler_index_counts_only_without_sampler_name():
    assert Txt2ImgBody().effective_sampler == "Euler a"
    assert Txt2ImgBody(sampler_index="DDIM").effective_sampler == "DDIM"
    assert Txt2ImgBody(sampler_name="Euler", sampler_index="DDIM").effective_sampler == "Euler"


def test_unknown_fields_are_ignored():
    assert Txt2ImgBody.model_validate({"prompt": "x", "no_such_field": 1}).prompt == "x"


def test_parameters_leave_images_out_unless_asked():
    body = Img2ImgBody(init_images=["abc"], mask="def")
    assert parameters(body)["init_images"] is None
    assert "include_init_images" not in parameters(body)
    kept = Img2ImgBody(init_images=["abc"], include_init_images=True)
    assert parameters(kept)["init_images"] == ["abc"]


def test_split_checkpoint():
    assert split_checkpoint(None) == (None, {})
    assert split_checkpoint({"sd_model_checkpoint": "tiny-b", "CLIP_stop_at_last_layers": 2}) == (
        "tiny-b",
        {"CLIP_stop_at_last_layers": 2},
    )
