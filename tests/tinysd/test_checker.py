import dataclasses

import numpy as np
import pytest
from PIL import Image

from sdserve.tinysd.checker import Verdict, check, foreground_centre, label_pixels, layout_spread
from sdserve.tinysd.dataset import Caption, Thing, layout, prompt_grid, render, scene_for


@pytest.mark.parametrize("size", [64, 256, 512])
def test_ground_truth_pictures_pass(size):
    failures = [
        scene.caption.text
        for scene in (scene_for(seed) for seed in range(150))
        if not check(render(scene, size), scene.caption).all_right
    ]
    assert failures == []


def test_grid_pictures_pass():
    import random

    rng = random.Random(0)
    for caption in prompt_grid():
        assert check(render(layout(caption, rng), 64), caption).all_right, caption.text


def _single(colour="red", shape="circle", position=None, background="white"):
    return Caption(things=(Thing(colour, shape, position=position),), background=background)


def test_wrong_aspects_are_each_reported():
    picture = render(layout(_single(position="on the left"), __import__("random").Random(0)), 128)
    assert check(picture, _single(position="on the left")) == Verdict(True, True, True, True)
    assert check(picture, _single(colour="blue", position="on the left")).colour is False
    assert check(picture, _single(shape="square", position="on the left")).shape is False
    assert check(picture, _single(position="on the right")).position is False
    assert check(picture, _single(background="black")).background is False


def test_position_is_none_when_not_named():
    scene = dataclasses.replace(scene_for(0))
    caption = _single()
    verdict = check(render(scene, 64), caption)
    assert verdict.position is None


def test_blank_picture_fails_colour_and_shape():
    blank = render(scene_for(0), 64).copy()
    blank.paste((245, 245, 245), (0, 0, 64, 64))
    verdict = check(blank, _single())
    assert (verdict.colour, verdict.shape, verdict.background) == (False, False, True)


def test_two_objects_judged_by_their_colours():
    caption = Caption(things=(Thing("red", "circle"), Thing("blue", "square")), background="gray")
    picture = render(layout(caption, __import__("random").Random(2)), 128)
    assert check(picture, caption).all_right
    swapped = Caption(things=caption.things[::-1], background="gray")
    assert check(picture, swapped).position is False


def test_labels_are_palette_indices():
    labels = label_pixels(render(scene_for(5), 64))
    assert labels.shape == (128, 128)
    assert labels.dtype.kind == "i" and np.all(labels >= 0)


ONE_OBJECT_SEEDS = [seed for seed in range(40) if len(scene_for(seed).objects) == 1]


@pytest.mark.parametrize("seed", ONE_OBJECT_SEEDS)
def test_foreground_centre_is_the_objects_centroid(seed):
    (obj,) = scene_for(seed).objects
    x, y = foreground_centre(render(scene_for(seed), 128))
    # A triangle's centroid sits a third of its half-height below its box's centre.
    below = obj.r / 3 if obj.thing.shape == "triangle" else 0.0
    assert abs(x - obj.cx) < 0.02 and abs(y - (obj.cy + below)) < 0.02


def test_foreground_centre_of_an_empty_picture_is_none():
    assert foreground_centre(Image.new("RGB", (64, 64), (245, 245, 245))) is None


def test_layout_spread_is_the_mean_distance_between_centres():
    assert layout_spread([(0.0, 0.0), (0.3, 0.4), (0.0, 0.0)]) == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert layout_spread([(0.5, 0.5)]) is None
