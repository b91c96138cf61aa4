"""The shipped shapes model draws what it is asked (diffusers, straight from the shipped files)."""

import random

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionInpaintPipeline
from PIL import Image

from sdserve.tinysd.checker import check
from sdserve.tinysd.dataset import layout, parse_caption, render
from sdserve.tinysd.drawing import SHAPES_DIR, SHAPES_FILE, draw, load, redraw

pytestmark = pytest.mark.skipif(not SHAPES_FILE.exists(), reason="shapes model not trained yet")

PROMPTS = [
    "a red circle on a white background",
    "a blue square on a black background",
    "a yellow triangle on a gray background",
    "a green square on a white background",
]


@pytest.fixture(scope="module")
def pipe():
    return load()


@pytest.mark.parametrize("size", [64, 512])
def test_prompts_pass_the_checker(pipe, size):
    verdicts = {
        prompt: check(draw(pipe, prompt, size=size, seeds=[0])[0], parse_caption(prompt))
        for prompt in PROMPTS
    }
    wrong = {p: v for p, v in verdicts.items() if not (v.colour and v.background)}
    assert wrong == {}


def test_folder_and_single_file_draw_identical_pictures(pipe):
    single = load(SHAPES_DIR, SHAPES_FILE)
    a = draw(pipe, PROMPTS[0], size=64, seeds=[3], steps=8)[0]
    b = draw(single, PROMPTS[0], size=64, seeds=[3], steps=8)[0]
    assert a.tobytes() == b.tobytes()


def test_a_different_seed_gives_a_different_picture(pipe):
    a, b = draw(pipe, PROMPTS[0], size=64, seeds=[1, 2], steps=8)
    assert a.tobytes() != b.tobytes()


def test_img2img_changes_the_colour_as_asked(pipe):
    red_caption = parse_caption("a red circle on a white background")
    red = render(layout(red_caption, random.Random(0)), 64)
    blue = redraw(pipe, "a blue circle on a white background", red, strength=0.6, seed=0)
    assert check(blue, parse_caption("a blue circle on a white background")).colour


def test_inpainting_replaces_only_the_masked_region(pipe):
    original = draw(pipe, "a red square on a white background", size=64, seeds=[4])[0]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # the left half
    inpaint = StableDiffusionInpaintPipeline(**pipe.components)
    inpaint.set_progress_bar_config(disable=True)
    result = inpaint(
        "a blue circle on a black background",
        image=original,
        mask_image=mask,
        height=64,
        width=64,
        num_inference_steps=20,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    before, after = (np.asarray(i, dtype=np.float32) for i in (original, result))
    kept = np.abs(after[:, 40:] - before[:, 40:]).mean()
    changed = np.abs(after[:, :24] - before[:, :24]).mean()
    assert changed > 4 * kept
