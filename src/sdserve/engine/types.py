"""The engine's public vocabulary: what the worker hands in and gets back.

The engine knows nothing of HTTP. The worker turns A1111 JSON into a
`GenerationRequest`, calls `Engine.generate`, and turns the result back into
JSON; A1111 field names are kept so the mapping stays obvious.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from sdserve.engine.hires import Hires


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1  # -1: random; image i of the request uses seed + i
    subseed: int = -1
    subseed_strength: float = 0.0
    sampler_name: str = "Euler a"
    scheduler: str = "Automatic"
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    # img2img / inpainting (None for txt2img)
    init_images: tuple[Image.Image, ...] = ()
    denoising_strength: float = 0.75
    mask: Image.Image | None = None
    mask_blur: int = 4
    inpainting_mask_invert: bool = False
    resize_mode: int = 0
    # txt2img's hires fix (A1111 `enable_hr`): a second pass at a larger size.
    hires: Hires | None = None
    # Settings applied for this request only (A1111 `override_settings`).
    override_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """Reported after every sampling step (and at job boundaries)."""

    job_no: int  # index of the current batch (0 .. n_iter-1)
    job_count: int  # n_iter
    sampling_step: int
    sampling_steps: int
    # Produces a cheap preview of the current latents on demand (None when unavailable).
    preview: Callable[[], Image.Image] | None = None


@dataclass(frozen=True)
class GenerationResult:
    images: list[Image.Image]  # PNG-ready, each with its infotext in `.info["parameters"]`
    seeds: list[int]
    subseeds: list[int]
    prompts: list[str]
    negative_prompts: list[str]
    infotexts: list[str]
    interrupted: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """One entry of /sdapi/v1/sd-models."""

    title: str  # "name [shorthash]"
    model_name: str
    hash: str | None  # A1111 short hash (first 10 hex of sha256), None for folders
    sha256: str | None
    filename: str
    config: str | None = None


ProgressCallback = Callable[[Progress], None]
