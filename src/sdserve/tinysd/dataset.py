"""Synthetic captioned pictures, generated deterministically from a seed.

Grammar (what a user can guess from the web UI's placeholder):

    a [small|large] <colour> <shape> [<position>] on a <background> background
    a <colour> <shape> and a <colour> <shape> on a <background> background

Two objects are laid out in reading order: the first on the left, the second on
the right. Geometry is kept in unit coordinates (0..1, y down), so one scene
renders at any pixel size as the same picture.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from sdserve.tinysd.palette import BACKGROUND_COLOURS, OBJECT_COLOURS, PALETTE

SHAPES = ("circle", "square", "triangle")
SIZES = {"small": (0.09, 0.12), None: (0.15, 0.2), "large": (0.25, 0.3)}
# Phrase -> where the object's centre goes, in unit coordinates.
POSITIONS: dict[str, tuple[float, float]] = {
    "on the left": (0.27, 0.5),
    "on the right": (0.73, 0.5),
    "at the top": (0.5, 0.27),
    "at the bottom": (0.5, 0.73),
    "at the top left": (0.27, 0.27),
    "at the top right": (0.73, 0.27),
    "at the bottom left": (0.27, 0.73),
    "at the bottom right": (0.73, 0.73),
    "in the center": (0.5, 0.5),
}
POSITION_JITTER = 0.05
MARGIN = 0.03
TWO_OBJECT_RATE = 0.15
POSITION_RATE = 0.6
SIZE_RATE = 0.3


@dataclass(frozen=True)
class Thing:
    """One object as the caption names it."""

    colour: str
    shape: str
    size: str | None = None  # "small" | "large" | None
    position: str | None = None  # a key of POSITIONS, or None


@dataclass(frozen=True)
class Caption:
    things: tuple[Thing, ...]
    background: str

    @property
    def text(self) -> str:
        named = [
            " ".join(w for w in ("a", t.size, t.colour, t.shape, t.position) if w is not None)
            for t in self.things
        ]
        return f"{' and '.join(named)} on a {self.background} background"


@dataclass(frozen=True)
class Placed:
    """One object laid out: centre (cx, cy) and half-extent r, unit coordinates."""

    thing: Thing
    cx: float
    cy: float
    r: float


@dataclass(frozen=True)
class Scene:
    caption: Caption
    objects: tuple[Placed, ...]


def parse_caption(text: str) -> Caption:
    """Read a caption of the grammar back into its parts; raises ValueError otherwise."""
    words = text.strip().lower().rstrip(".")
    head, sep, tail = words.rpartition(" on a ")
    background = tail.removesuffix(" background")
    if not sep or not tail.endswith(" background") or background not in BACKGROUND_COLOURS:
        raise ValueError(f"caption: expected '... on a <background> background', got {text!r}")
    things = tuple(_parse_thing(part) for part in head.split(" and "))
    return Caption(things=things, background=background)


def _parse_thing(part: str) -> Thing:
    words = part.split()
    if not words or words[0] not in ("a", "an"):
        raise ValueError(f"caption: object must start with 'a', got {part!r}")
    words = words[1:]
    size = words.pop(0) if words and words[0] in ("small", "large") else None
    if len(words) < 2 or words[0] not in OBJECT_COLOURS or words[1] not in SHAPES:
        raise ValueError(f"caption: expected '<colour> <shape>', got {part!r}")
    position = " ".join(words[2:]) or None
    if position is not None and position not in POSITIONS:
        raise ValueError(f"caption: unknown position {position!r}")
    return Thing(colour=words[0], shape=words[1], size=size, position=position)


def random_caption(rng: random.Random) -> Caption:
    background = rng.choice(sorted(BACKGROUND_COLOURS))
    colours = sorted(OBJECT_COLOURS)
    if rng.random() < TWO_OBJECT_RATE:
        first, second = rng.sample(colours, 2)
        things = (Thing(first, rng.choice(SHAPES)), Thing(second, rng.choice(SHAPES)))
        return Caption(things=things, background=background)
    size = rng.choice(("small", "large")) if rng.random() < SIZE_RATE else None
    position = rng.choice(sorted(POSITIONS)) if rng.random() < POSITION_RATE else None
    thing = Thing(rng.choice(colours), rng.choice(SHAPES), size=size, position=position)
    return Caption(things=(thing,), background=background)


def layout(caption: Caption, rng: random.Random) -> Scene:
    """Place the caption's objects: where it says, or anywhere that fits."""
    if len(caption.things) == 2:
        placed = tuple(
            _place(thing, rng, x_range=x_range)
            for thing, x_range in zip(caption.things, ((0.0, 0.5), (0.5, 1.0)), strict=True)
        )
        return Scene(caption=caption, objects=placed)
    return Scene(caption=caption, objects=(_place(caption.things[0], rng),))


def _place(thing: Thing, rng: random.Random, x_range: tuple[float, float] = (0.0, 1.0)) -> Placed:
    r = rng.uniform(*SIZES[thing.size])

    def clamp(v: float, lo: float, hi: float) -> float:
        return min(max(v, lo + r + MARGIN), hi - r - MARGIN)

    if thing.position is not None:
        x, y = POSITIONS[thing.position]
        x += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
        y += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
    else:
        x, y = rng.uniform(*x_range), rng.uniform(0.0, 1.0)
    return Placed(thing=thing, cx=clamp(x, *x_range), cy=clamp(y, 0.0, 1.0), r=r)


def scene_for(seed: int) -> Scene:
    """The training scene number `seed`: the same seed always gives the same scene."""
    rng = random.Random(seed)
    return layout(random_caption(rng), rng)


def render(scene: Scene, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), PALETTE[scene.caption.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw(draw, obj, size, PALETTE[obj.thing.colour])
    return image


def render_shapes(scene: Scene, size: int) -> np.ndarray:
    """Per pixel: 0 for background, else 1 + the index in SHAPES of the object drawn there."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw(draw, obj, size, 1 + SHAPES.index(obj.thing.shape))
    return np.asarray(image)


def _draw(draw: ImageDraw.ImageDraw, obj: Placed, size: int, fill: int | tuple) -> None:
    left, top = (obj.cx - obj.r) * size, (obj.cy - obj.r) * size
    right, bottom = (obj.cx + obj.r) * size, (obj.cy + obj.r) * size
    if obj.thing.shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=fill)
    elif obj.thing.shape == "square":
        draw.rectangle((left, top, right, bottom), fill=fill)
    else:
        draw.polygon([(obj.cx * size, top), (left, bottom), (right, bottom)], fill=fill)


def prompt_grid() -> list[Caption]:
    """The benchmark's prompts: every colour x shape x background, positions cycled through."""
    places: list[str | None] = [None, *POSITIONS]
    combos = [
        (colour, shape, background)
        for colour in sorted(OBJECT_COLOURS)
        for shape in SHAPES
        for background in sorted(BACKGROUND_COLOURS)
    ]
    return [
        Caption(things=(Thing(c, s, position=places[i % len(places)]),), background=b)
        for i, (c, s, b) in enumerate(combos)
    ]
