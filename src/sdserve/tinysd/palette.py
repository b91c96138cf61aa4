"""The named colours the captions use and the pictures are painted with.

One table serves the renderer and the checker, so a picture is judged against
exactly the colours it could have been drawn with.
"""

from __future__ import annotations

OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (245, 220, 30),
    "orange": (245, 135, 20),
    "purple": (130, 40, 180),
    "pink": (245, 125, 190),
    "cyan": (40, 210, 225),
}

BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}

PALETTE: dict[str, tuple[int, int, int]] = {**OBJECT_COLOURS, **BACKGROUND_COLOURS}
