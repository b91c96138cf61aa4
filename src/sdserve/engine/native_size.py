"""Drawing at a model's native size: a model trained for one picture size draws there,
and the picture is resized to the size asked.

A small model may draw well at one size only: the shipped `tiny`, trained at 64 to
512 px, draws best at 256 px; at 512 px its UNet draws copies of the object or
outlines of the wrong shape, and at 64 px blobs, where an object is 2-3 latent
pixels across (BENCHMARKS.md). Cascaded diffusion systems work the same way: a base
model at its own size, then an upscaler. A model folder opts in with a file beside
model_index.json:

    sdserve.json    {"native_size": 256}

A request of another size is then drawn with that area and the asked aspect ratio,
and its pictures resized to the asked size (Lanczos). Real SD checkpoints carry no
such file and draw at the asked size, as in A1111. Hires fix is a second pass the
client asked for at a size of its choosing, so its requests are drawn as asked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from sdserve.engine.errors import ModelLoadError
from sdserve.engine.hires import LATENT_FACTOR

SETTINGS_FILE = "sdserve.json"
KEY = "native_size"


def write_native_size(folder: Path, size: int) -> None:
    """Declare a model folder's native size (what read_native_size reads back)."""
    (folder / SETTINGS_FILE).write_text(json.dumps({KEY: size}) + "\n")


def read_native_size(folder: Path) -> int | None:
    """The native size a model folder declares in sdserve.json; None without one."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        size = json.loads(path.read_text())[KEY]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(
            f"cannot read {path}: {error!r}; it must be JSON like {{\"native_size\": 256}}"
        ) from error
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % LATENT_FACTOR:
        raise ModelLoadError(f"{path}: native_size must be a positive multiple of "
                             f"{LATENT_FACTOR} (pixels), not {size!r}")
    return size


def drawing_size(width: int, height: int, native: int) -> tuple[int, int]:
    """The size to draw a width x height picture at: native x native pixels of area,
    the same aspect ratio, each side a multiple of 8 (at least 8)."""
    scale = native / math.sqrt(width * height)
    return _multiple_of_8(width * scale), _multiple_of_8(height * scale)


def _multiple_of_8(value: float) -> int:
    return max(LATENT_FACTOR, round(value / LATENT_FACTOR) * LATENT_FACTOR)
