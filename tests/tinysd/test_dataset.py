import random

import numpy as np
import pytest

from sdserve.tinysd.dataset import (
    BACKGROUND_COLOURS,
    POSITIONS,
    SHAPES,
    Caption,
    Thing,
    layout,
    parse_caption,
    prompt_grid,
    render,
    render_shapes,
    scene_for,
)
from sdserve.tinysd.palette import PALETTE


def test_same_seed_same_picture():
    for seed in range(20):
        assert scene_for(seed) == scene_for(seed)
        assert render(scene_for(seed), 64).tobytes() == render(scene_for(seed), 64).tobytes()


def test_different_seeds_differ():
    captions = {scene_for(seed).caption.text for seed in range(50)}
    assert len(captions) > 40


@pytest.mark.parametrize("seed", range(200))
def test_captions_parse_back(seed):
    caption = scene_for(seed).caption
    assert parse_caption(caption.text) == caption


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("a red circle", "background"),
        ("a red circle on a mauve background", "background"),
        ("a magenta circle on a white background", "<colour> <shape>"),
        ("a red hexagon on a white background", "<colour> <shape>"),
        ("red circle on a white background", "must start with 'a'"),
        ("a red circle in the corner on a white background", "unknown position"),
    ],
)
def test_bad_captions_name_the_problem(text, names):
    with pytest.raises(ValueError, match=names):
        parse_caption(text)


def test_caption_text_reads_like_the_grammar():
    caption = Caption(
        things=(Thing("red", "circle", size="large", position="at the top left"),),
        background="white",
    )
    assert caption.text == "a large red circle at the top left on a white background"
    pair = Caption(things=(Thing("red", "circle"), Thing("blue", "square")), background="black")
    assert pair.text == "a red circle and a blue square on a black background"


@pytest.mark.parametrize("size", [64, 256, 512])
def test_render_size_and_background(size):
    scene = scene_for(3)
    image = render(scene, size)
    assert image.size == (size, size)
    assert image.getpixel((0, 0)) == PALETTE[scene.caption.background]


def test_objects_stay_inside_the_picture():
    for seed in range(500):
        for obj in scene_for(seed).objects:
            assert obj.cx - obj.r > 0.0 and obj.cx + obj.r < 1.0
            assert obj.cy - obj.r > 0.0 and obj.cy + obj.r < 1.0


def test_named_position_puts_the_object_there():
    rng = random.Random(0)
    for position, (x, y) in POSITIONS.items():
        caption = Caption(things=(Thing("red", "square", position=position),), background="white")
        placed = layout(caption, rng).objects[0]
        assert abs(placed.cx - x) < 0.1 and abs(placed.cy - y) < 0.1


def test_two_objects_in_reading_order():
    caption = Caption(things=(Thing("red", "circle"), Thing("blue", "square")), background="gray")
    rng = random.Random(1)
    for _ in range(50):
        first, second = layout(caption, rng).objects
        assert first.cx < 0.5 < second.cx


def test_prompt_grid_covers_every_colour_shape_and_background():
    grid = prompt_grid()
    assert len({(c.things[0].colour, c.things[0].shape, c.background) for c in grid}) == len(grid)
    assert {c.background for c in grid} == set(BACKGROUND_COLOURS)
    assert {c.things[0].position for c in grid} == {None, *POSITIONS}


@pytest.mark.parametrize("seed", range(20))
def test_shape_map_marks_where_each_shape_is_drawn(seed):
    scene = scene_for(seed)
    pixels = np.asarray(render(scene, 128))
    shapes = render_shapes(scene, 128)
    background = (pixels == PALETTE[scene.caption.background]).all(-1)
    assert ((shapes == 0) == background).all()
    drawn = {SHAPES[label - 1] for label in np.unique(shapes) if label}
    assert drawn == {obj.thing.shape for obj in scene.objects}
