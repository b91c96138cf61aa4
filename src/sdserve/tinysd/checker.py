"""Does a picture match its caption? A deterministic check with no model of its own.

Every pixel is labelled with its nearest palette colour. The background is the
commonest label on the border; an object is the pixels of its colour (or, for
one object, every non-background pixel, so a wrong colour is seen as wrong).
Its colour is the commonest label over its mask, its shape the nearest
prototype in (fill ratio of the bounding box, top-corner fill, bottom-corner
fill), its position the mask's centroid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sdserve.tinysd.dataset import POSITIONS, Caption
from sdserve.tinysd.palette import PALETTE

CHECK_SIZE = 128  # pictures are judged at this size, whatever size they were drawn at
MIN_OBJECT_FRACTION = 0.003
CORNER = 0.2  # corner patches are this fraction of the bounding box's side
# (fill ratio, top-corner fill, bottom-corner fill) of each shape as drawn.
SHAPE_PROTOTYPES = {
    "square": (1.0, 1.0, 1.0),
    "circle": (0.785, 0.1, 0.1),
    "triangle": (0.5, 0.0, 0.75),
}
NEAR_CENTRE = 0.42  # a side position needs its centroid beyond this distance from the edge
CENTRE_TOLERANCE = 0.17  # a large triangle's centroid sits r/3 below its box centre

_NAMES = list(PALETTE)
_COLOURS = np.array([PALETTE[n] for n in _NAMES], dtype=np.float32)


@dataclass(frozen=True)
class Verdict:
    """Each aspect right or wrong; None where the caption does not name it."""

    colour: bool
    background: bool
    shape: bool
    position: bool | None

    @property
    def all_right(self) -> bool:
        return self.colour and self.background and self.shape and self.position is not False


def label_pixels(image: Image.Image) -> np.ndarray:
    """Index into the palette of each pixel's nearest colour, at CHECK_SIZE."""
    small = image.convert("RGB").resize((CHECK_SIZE, CHECK_SIZE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float32)
    distances = ((pixels[:, :, None, :] - _COLOURS[None, None]) ** 2).sum(-1)
    return distances.argmin(-1)


def check(image: Image.Image, caption: Caption) -> Verdict:
    labels = label_pixels(image)
    background = _background(labels)
    background_ok = background == caption.background
    if len(caption.things) == 1:
        thing = caption.things[0]
        foreground = labels != _NAMES.index(background)
        colour = _commonest(labels[foreground])
        mask = _open(labels == _NAMES.index(colour)) if colour else foreground
        position_ok = _position_ok(mask, thing.position) if thing.position else None
        return Verdict(
            colour=colour == thing.colour,
            background=background_ok,
            shape=_shape(mask) == thing.shape,
            position=position_ok,
        )
    masks = [_open(labels == _NAMES.index(t.colour)) for t in caption.things]
    present = [m.mean() >= MIN_OBJECT_FRACTION for m in masks]
    centres = [_centroid(m) for m in masks]
    return Verdict(
        colour=bool(all(present)),
        background=background_ok,
        shape=all(_shape(m) == t.shape for m, t in zip(masks, caption.things, strict=True)),
        position=bool(all(present) and centres[0][0] < centres[1][0]),
    )


def foreground_centre(image: Image.Image) -> tuple[float, float] | None:
    """Centroid (x, y in 0..1, y down) of everything not background; None if empty."""
    labels = label_pixels(image)
    foreground = labels != _NAMES.index(_background(labels))
    if foreground.mean() < MIN_OBJECT_FRACTION:
        return None
    return _centroid(foreground)


def layout_spread(centres: list[tuple[float, float]]) -> float | None:
    """Mean distance between the centres (foreground_centre of one prompt's pictures at
    several seeds), in picture widths: how far a new seed moves the object. None for
    fewer than two centres."""
    gaps = [math.dist(a, b) for i, a in enumerate(centres) for b in centres[i + 1:]]
    return sum(gaps) / len(gaps) if gaps else None


def _background(labels: np.ndarray) -> str:
    """The commonest label on the picture's border."""
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return _NAMES[np.bincount(border, minlength=len(_NAMES)).argmax()]


def _open(mask: np.ndarray) -> np.ndarray:
    """Erode then dilate by one pixel: drops the thin rims where two colours blend."""
    return _grow(~_grow(~mask))


def _grow(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    return np.logical_or.reduce(
        [padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    )


def _commonest(labels: np.ndarray) -> str | None:
    if labels.size < MIN_OBJECT_FRACTION * CHECK_SIZE * CHECK_SIZE:
        return None
    return _NAMES[np.bincount(labels, minlength=len(_NAMES)).argmax()]


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    if not mask.any():
        return (0.5, 0.5)
    ys, xs = np.nonzero(mask)
    return ((xs.mean() + 0.5) / mask.shape[1], (ys.mean() + 0.5) / mask.shape[0])


def _position_ok(mask: np.ndarray, position: str) -> bool:
    if mask.mean() < MIN_OBJECT_FRACTION:
        return False
    x, y = _centroid(mask)
    want_x, want_y = POSITIONS[position]
    if position == "in the center":
        return bool(abs(x - 0.5) < CENTRE_TOLERANCE and abs(y - 0.5) < CENTRE_TOLERANCE)
    # A side position ("on the left") says nothing about the other axis.
    return bool(_side_ok(x, want_x) and _side_ok(y, want_y))


def _side_ok(actual: float, wanted: float) -> bool:
    if wanted < 0.5:
        return actual < NEAR_CENTRE
    if wanted > 0.5:
        return actual > 1.0 - NEAR_CENTRE
    return True


def shape_features(mask: np.ndarray) -> tuple[float, float, float]:
    """(fill ratio of the bounding box, top-corner fill, bottom-corner fill)."""
    ys, xs = np.nonzero(mask)
    # Percentiles rather than extremes, so a few stray pixels do not stretch the box.
    top, bottom = np.percentile(ys, [1, 99]).round().astype(int)
    left, right = np.percentile(xs, [1, 99]).round().astype(int)
    box = mask[top : bottom + 1, left : right + 1]
    h, w = box.shape
    ch, cw = max(1, round(h * CORNER)), max(1, round(w * CORNER))
    top_fill = (box[:ch, :cw].mean() + box[:ch, -cw:].mean()) / 2
    bottom_fill = (box[-ch:, :cw].mean() + box[-ch:, -cw:].mean()) / 2
    return (float(box.mean()), float(top_fill), float(bottom_fill))


def _shape(mask: np.ndarray) -> str | None:
    if mask.mean() < MIN_OBJECT_FRACTION:
        return None
    features = np.array(shape_features(mask))
    return min(
        SHAPE_PROTOTYPES,
        key=lambda s: float(((features - np.array(SHAPE_PROTOTYPES[s])) ** 2).sum()),
    )
