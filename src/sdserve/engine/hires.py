"""Hires fix (A1111's `enable_hr`): draw at the asked size, upscale, then re-draw the
upscaled picture with img2img at the target size.

The "Latent" upscalers resize the first pass's latents (no decode in between); the
image upscalers decode, resize the picture and encode it again. Either way the second
pass adds noise at `denoising_strength` and denoises with the same seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from sdserve.engine.errors import InvalidRequest

LATENT_FACTOR = 8  # SD's VAE: one latent pixel per 8x8 pixels
DEFAULT_UPSCALER = "Latent"
# The webui's slider default; its API sends None when a client leaves it out.
DEFAULT_DENOISING_STRENGTH = 0.7

# name -> (torch.nn.functional.interpolate mode, antialias) for latent upscalers
LATENT_UPSCALERS: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
IMAGE_UPSCALERS: dict[str, Image.Resampling] = {
    "Lanczos": Image.Resampling.LANCZOS,
    "Nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class Hires:
    """The second pass of one txt2img request; None fields take the first pass's value."""

    width: int  # the output size, a multiple of 8
    height: int
    scale: float | None  # as asked (infotext); None when an explicit size was asked
    upscaler: str = DEFAULT_UPSCALER
    steps: int = 0  # 0: the first pass's steps
    denoising_strength: float = DEFAULT_DENOISING_STRENGTH
    sampler_name: str | None = None
    scheduler: str | None = None
    prompt: str = ""  # "": the first pass's prompt
    negative_prompt: str = ""

    @property
    def is_latent(self) -> bool:
        return self.upscaler in LATENT_UPSCALERS


def target_size(width: int, height: int, scale: float, resize_x: int,
                resize_y: int) -> tuple[int, int]:
    """The second pass's size, as the webui computes it: `hr_resize_x/y` when given (one
    of them alone keeps the aspect ratio), else the first pass's size times `hr_scale`;
    floored to a multiple of 8."""
    if resize_x and resize_y:
        x, y = resize_x, resize_y
    elif resize_x:
        x, y = resize_x, resize_x * height / width
    elif resize_y:
        x, y = resize_y * width / height, resize_y
    else:
        x, y = width * scale, height * scale
    return _multiple_of_8(x), _multiple_of_8(y)


def _multiple_of_8(value: float) -> int:
    return max(LATENT_FACTOR, int(value) // LATENT_FACTOR * LATENT_FACTOR)


def check_upscaler(name: str) -> None:
    if name not in LATENT_UPSCALERS and name not in IMAGE_UPSCALERS:
        valid = ", ".join([*LATENT_UPSCALERS, *IMAGE_UPSCALERS])
        raise InvalidRequest("hr_upscaler", f"unknown upscaler {name!r}; valid: {valid}")


def upscale_latents(latents: Any, hires: Hires) -> Any:
    import torch.nn.functional as F

    mode, antialias = LATENT_UPSCALERS[hires.upscaler]
    size = (hires.height // LATENT_FACTOR, hires.width // LATENT_FACTOR)
    # interpolate has no bf16 bicubic/antialias kernels on every backend: resize in fp32.
    resized = F.interpolate(latents.float(), size=size, mode=mode, antialias=antialias)
    return resized.to(latents.dtype)


def upscale_images(pictures: list[Image.Image], hires: Hires) -> list[Image.Image]:
    method = IMAGE_UPSCALERS[hires.upscaler]
    return [p.resize((hires.width, hires.height), method) for p in pictures]
