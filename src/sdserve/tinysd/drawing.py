"""Load the shipped shapes model with diffusers and draw with it (tests and bench share this)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
from PIL import Image

SHAPES_DIR = Path(__file__).resolve().parent.parent / "models" / "shapes"
SHAPES_FILE = SHAPES_DIR / "shapes.safetensors"


def load(folder: Path = SHAPES_DIR, single_file: Path | None = None) -> StableDiffusionPipeline:
    """The pipeline from the diffusers folder, or from the single file (the folder gives config).

    Weights are stored in fp16 and always loaded as fp32: the CPU computes in fp32.
    """
    if single_file is None:
        pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    else:
        pipe = StableDiffusionPipeline.from_single_file(
            str(single_file), config=str(folder), torch_dtype=torch.float32, safety_checker=None
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def draw(
    pipe: StableDiffusionPipeline,
    prompt: str,
    *,
    size: int,
    seeds: list[int],
    steps: int = 20,
    cfg: float = 7.0,
) -> list[Image.Image]:
    """One picture per seed, each with its own CPU generator (as A1111 seeds images)."""
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return pipe(
        [prompt] * len(seeds),
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=cfg,
        generator=generators,
    ).images


def redraw(
    pipe: StableDiffusionPipeline,
    prompt: str,
    image: Image.Image,
    *,
    strength: float,
    seed: int,
    steps: int = 20,
    cfg: float = 7.0,
) -> Image.Image:
    """img2img with the same weights."""
    img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    return img2img(
        prompt,
        image=image,
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=cfg,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]
