"""Images on the wire: base64 (optionally a data URL) in, base64 PNG out.

PNGs carry every string entry of `image.info` as a tEXt chunk, so the A1111
`parameters` infotext travels with the image.
"""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, PngImagePlugin, UnidentifiedImageError

# Keys PIL puts in `image.info` that are file properties, not text the user wrote.
_NOT_TEXT = frozenset({"dpi", "gamma", "srgb", "transparency", "icc_profile", "exif", "aspect"})


class ImageDecodeError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def decode_image(data: str, field: str) -> Image.Image:
    """Decode a base64 image, with or without a `data:image/...;base64,` prefix."""
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDecodeError(field, "not valid base64") from None
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ImageDecodeError(field, "base64 data is not a readable image") from None
    return image


def encode_png(image: Image.Image) -> str:
    """Base64 PNG with the image's text entries (the infotext) as tEXt chunks."""
    text = PngImagePlugin.PngInfo()
    for key, value in image.info.items():
        if isinstance(key, str) and isinstance(value, str):
            text.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=text)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def text_chunks(image: Image.Image) -> dict[str, str]:
    """The user-visible text entries of an image (PNG tEXt/iTXt)."""
    return {
        k: v for k, v in image.info.items() if isinstance(v, str) and k.lower() not in _NOT_TEXT
    }
