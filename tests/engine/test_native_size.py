"""A model that declares a native size draws there and its pictures are resized;
every other model, and hires fix, draws at the asked size."""

import shutil

import numpy as np
import pytest
from PIL import Image

from sdserve.engine import Engine, GenerationRequest, ModelLoadError, parse_infotext
from sdserve.engine.hires import Hires
from sdserve.engine.native_size import SETTINGS_FILE, drawing_size, read_native_size
from sdserve.engine.sources import SHIPPED_DIR

TINY = SHIPPED_DIR / "tiny"
PROMPT = "a red square on a white background"


@pytest.mark.parametrize(("asked", "drawn"), [
    ((256, 256), (256, 256)),
    ((64, 64), (256, 256)),
    ((512, 512), (256, 256)),
    ((512, 768), (208, 312)),  # the same area, the same aspect ratio, multiples of 8
    ((8, 2048), (16, 4096)),
])
def test_drawing_size(asked, drawn):
    assert drawing_size(*asked, native=256) == drawn


def test_read_native_size(tmp_path):
    assert read_native_size(tmp_path) is None
    (tmp_path / SETTINGS_FILE).write_text('{"native_size": 256}')
    assert read_native_size(tmp_path) == 256
    assert read_native_size(TINY) == 256


@pytest.mark.parametrize(("text", "says"), [
    ("{native_size: 256}", "must be JSON"),
    ('{"size": 256}', "must be JSON"),
    ('{"native_size": 100}', "positive multiple of 8"),
    ('{"native_size": "256"}', "positive multiple of 8"),
    ('{"native_size": -256}', "positive multiple of 8"),
])
def test_a_bad_settings_file_is_named(tmp_path, text, says):
    (tmp_path / SETTINGS_FILE).write_text(text)
    with pytest.raises(ModelLoadError, match=says) as error:
        read_native_size(tmp_path)
    assert SETTINGS_FILE in str(error.value)


@pytest.fixture(scope="module")
def engine():
    engine = Engine(dtype="float32")
    engine.load("tiny")
    return engine


@pytest.fixture(scope="module")
def as_asked():
    engine = Engine(dtype="float32", native_size=False)
    engine.load("tiny")
    return engine


def draw(engine, width, height, **extra):
    request = GenerationRequest(prompt=PROMPT, seed=3, steps=4, width=width, height=height,
                                **extra)
    return engine.generate(request).images[0]


def pixels(image):
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("size", [64, 512])
def test_tiny_draws_at_256_px_and_resizes(engine, size):
    native = draw(engine, 256, 256)
    picture = draw(engine, size, size)
    assert picture.size == (size, size)
    resized = native.resize((size, size), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(picture), pixels(resized))
    assert parse_infotext(picture.info["parameters"])["Size"] == f"{size}x{size}"


def test_other_aspect_ratios_keep_the_asked_size(engine):
    assert draw(engine, 512, 768).size == (512, 768)


def test_without_native_size_the_model_draws_as_asked(engine, as_asked):
    native = draw(engine, 512, 512)
    direct = draw(as_asked, 512, 512)
    assert direct.size == (512, 512)
    assert not np.array_equal(pixels(native), pixels(direct))


def test_the_single_file_beside_the_folder_shares_its_native_size(engine):
    from_file = Engine(dtype="float32")
    from_file.load(str(TINY / "tiny.safetensors"))
    assert np.array_equal(pixels(draw(from_file, 512, 512)), pixels(draw(engine, 512, 512)))


def test_a_folder_without_the_file_draws_as_asked(as_asked, tmp_path):
    copy = shutil.copytree(TINY, tmp_path / "tiny-copy",
                           ignore=shutil.ignore_patterns(SETTINGS_FILE, "tiny.safetensors"))
    plain = Engine(dtype="float32")
    plain.load(str(copy))
    assert np.array_equal(pixels(draw(plain, 512, 512)), pixels(draw(as_asked, 512, 512)))


def test_hires_fix_is_drawn_as_asked(engine, as_asked):
    hires = Hires(width=128, height=128, scale=2.0, upscaler="Lanczos", steps=2,
                  denoising_strength=0.5)
    picture = draw(engine, 64, 64, hires=hires)
    assert picture.size == (128, 128)
    assert np.array_equal(pixels(picture), pixels(draw(as_asked, 64, 64, hires=hires)))


def test_inpainting_keeps_every_pixel_outside_its_mask(engine):
    original = draw(engine, 512, 512)
    mask = Image.new("L", (512, 512), 0)
    mask.paste(255, (0, 0, 256, 512))  # the left half
    inpainted = draw(engine, 512, 512, init_images=(original,), mask=mask, mask_blur=0,
                     denoising_strength=1.0)
    before, after = pixels(original), pixels(inpainted)
    assert np.array_equal(after[:, 256:], before[:, 256:])
    assert not np.array_equal(after[:, :256], before[:, :256])
