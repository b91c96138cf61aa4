import io
import shutil

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sdserve.engine import (
    Engine,
    GenerationRequest,
    InvalidRequest,
    ModelLoadError,
    ModelNotFound,
    parse_infotext,
)
from sdserve.engine.samplers import SAMPLERS
from sdserve.engine.sources import SHIPPED_DIR
from tests.pictures import FP32_MIN_PSNR_DB, psnr

SMALL = {"width": 64, "height": 64, "steps": 2, "prompt": "pretty dog"}


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    engine.load("tiny")
    return engine


def png(image: Image.Image) -> bytes:
    info = PngInfo()
    info.add_text("parameters", image.info["parameters"])
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


@pytest.mark.parametrize("sampler", [s.name for s in SAMPLERS])
def test_every_sampler_runs(engine, sampler):
    result = engine.generate(GenerationRequest(**SMALL, seed=1, sampler_name=sampler))
    assert result.images[0].size == (64, 64)
    assert parse_infotext(result.infotexts[0])["Sampler"] == sampler


def test_same_seed_gives_identical_png_bytes(engine):
    request = GenerationRequest(**SMALL, seed=42)
    first, second = engine.generate(request), engine.generate(request)
    assert png(first.images[0]) == png(second.images[0])
    other = engine.generate(GenerationRequest(**SMALL, seed=43))
    assert png(first.images[0]) != png(other.images[0])


def test_seed_arithmetic_over_batches():
    # fp32, whose batch sizes differ by rounding at most; bf16 kernels block by batch size.
    engine = Engine(dtype="float32")
    result = engine.generate(GenerationRequest(**SMALL, seed=10, batch_size=2, n_iter=2))
    assert result.seeds == [10, 11, 12, 13]
    assert [parse_infotext(t)["Seed"] for t in result.infotexts] == ["10", "11", "12", "13"]
    single = engine.generate(GenerationRequest(**SMALL, seed=12))
    assert psnr(single.images[0], result.images[2]) >= FP32_MIN_PSNR_DB


def test_random_seed(engine):
    result = engine.generate(GenerationRequest(**SMALL))
    assert result.seeds[0] >= 0


def test_infotext_fields(engine):
    text = engine.generate(GenerationRequest(**SMALL, seed=3)).images[0].info["parameters"]
    fields = parse_infotext(text)
    assert fields["Prompt"] == "pretty dog"
    assert fields["Model"] == "tiny" and fields["Model hash"] == engine.current.hash
    assert fields["Version"] == "sdserve 0.1.0"


def test_interrupt_returns_partial_and_engine_stays_usable(engine):
    steps_seen = []

    def on_progress(progress):
        steps_seen.append(progress.sampling_step)
        if progress.sampling_step:
            # A latent preview: tiny draws a 64 px picture at its native 256 px.
            assert progress.preview().size == (32, 32)

    result = engine.generate(
        GenerationRequest(**{**SMALL, "steps": 6}, seed=1, n_iter=3),
        on_progress=on_progress,
        should_interrupt=lambda: len(steps_seen) > 3,
    )
    assert result.interrupted and len(result.images) == 1
    after = engine.generate(GenerationRequest(**SMALL, seed=1))
    assert not after.interrupted and len(after.images) == 1


def test_skip_ends_a_batch_and_moves_on(engine):
    skips = iter([False, True])
    result = engine.generate(GenerationRequest(**{**SMALL, "steps": 4}, seed=1, n_iter=2),
                             should_skip=lambda: next(skips, False))
    assert len(result.images) == 2 and not result.interrupted


def test_unknown_sampler_is_invalid(engine):
    with pytest.raises(InvalidRequest, match="Euler a"):
        engine.validate(GenerationRequest(sampler_name="Nope"))


def test_img2img_and_inpainting_keep_the_unmasked_region(engine):
    source = Image.new("RGB", (64, 64), (200, 30, 30))
    img2img = engine.generate(GenerationRequest(**SMALL, seed=1, init_images=(source,),
                                                denoising_strength=0.5))
    assert img2img.images[0].size == (64, 64)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # repaint the left half only
    inpainted = engine.generate(GenerationRequest(**SMALL, seed=1, init_images=(source,),
                                                  mask=mask, mask_blur=0))
    pixels = np.asarray(inpainted.images[0]).astype(int)
    assert np.abs(pixels[:, 40:] - [200, 30, 30]).max() <= 2


def test_single_file_and_folder_give_identical_images():
    engine = Engine()
    request = GenerationRequest(**SMALL, seed=9)
    engine.load(str(SHIPPED_DIR / "tiny"))
    from_folder = engine.generate(request).images[0]
    engine.load(str(SHIPPED_DIR / "tiny" / "tiny.safetensors"))
    from_file = engine.generate(request).images[0]
    assert np.array_equal(np.asarray(from_folder), np.asarray(from_file))


def test_models_dir_listing_and_switching(tmp_path):
    # A diffusers folder with its single-file twin, as the shipped models are laid out.
    shutil.copytree(SHIPPED_DIR / "tiny-b", tmp_path / "other")
    engine = Engine(models_dir=tmp_path)
    titles = [m.title for m in engine.list_models()]
    assert any(t.startswith("tiny [") for t in titles)
    assert any(t.startswith("tiny-b [") for t in titles)
    other = next(m for m in engine.list_models() if m.model_name == "other")
    assert other.filename == str(tmp_path / "other")
    assert other.title == f"other [{other.sha256[:10]}]"
    request = GenerationRequest(**SMALL, seed=1)
    engine.load("tiny")
    a = engine.generate(request).images[0]
    engine.load(other.title)
    assert engine.current == other
    b = engine.generate(request).images[0]
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    engine.load("tiny")
    switched = engine.generate(GenerationRequest(
        **SMALL, seed=1, override_settings={"sd_model_checkpoint": "tiny-b"}))
    assert parse_infotext(switched.infotexts[0])["Model"] == "tiny-b"
    assert engine.current.model_name == "tiny"


def test_missing_model(engine):
    with pytest.raises(ModelNotFound):
        engine.load("/nowhere/at/all.safetensors")


def test_hub_id_offline_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    engine = Engine()
    with pytest.raises(ModelLoadError, match="download it first"):
        engine.load("sdserve-tests/not-a-model")


@pytest.mark.parametrize("steps", [1, 4, 20, 49, 50, 150])
def test_at_least_one_img2img_step(steps):
    from sdserve.engine.generation import at_least_one_step

    assert int(steps * at_least_one_step(0.0, steps)) == 1
    assert at_least_one_step(0.5, steps) == max(0.5, at_least_one_step(0.0, steps))
