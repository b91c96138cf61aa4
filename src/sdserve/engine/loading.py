"""Loading a model once and building every pipeline it serves from the same components."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sdserve.engine.checkpoint import Architecture, config_folder, load_single_file
from sdserve.engine.errors import ModelLoadError
from sdserve.engine.native_size import read_native_size
from sdserve.engine.precision import Precision, cast_inputs, cast_outputs
from sdserve.engine.preview import SD1_LATENT_RGB, SDXL_LATENT_RGB
from sdserve.engine.sources import Source
from sdserve.engine.types import ModelInfo

HUB_FIX = (
    "download it first (`huggingface-cli download {id}`) while online, or point --model "
    "at a local diffusers folder or .safetensors file; HF_HUB_OFFLINE=1 skips the network"
)


@dataclass
class LoadedModel:
    info: ModelInfo
    arch: Architecture
    txt2img: Any
    img2img: Any
    inpaint: Any
    scheduler_config: dict
    latent_rgb: tuple[tuple[float, ...], ...]
    native_size: int | None = None  # engine/native_size.py; None: draw at the asked size


def _load_folder(location: str, precision: Precision, **hub: Any) -> tuple[Architecture, Any]:
    from diffusers import DiffusionPipeline, StableDiffusionXLPipeline

    from sdserve.engine.configs import OPEN_CLIP_PAD_TOKEN, load_clip_tokenizer

    index = DiffusionPipeline.load_config(location, **hub)
    arch: Architecture = "sdxl" if "text_encoder_2" in index else "sd1"
    extra: dict[str, Any] = {}
    # Folders without tokenizers (the shipped tiny ones) take sdserve's CLIP tokenizer.
    if index.get("tokenizer", [None])[0] is None:
        extra["tokenizer"] = load_clip_tokenizer()
    if arch == "sdxl" and index.get("tokenizer_2", [None])[0] is None:
        extra["tokenizer_2"] = load_clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN)
    if arch == "sd1":
        extra.update(safety_checker=None, requires_safety_checker=False)
    cls = StableDiffusionXLPipeline if arch == "sdxl" else DiffusionPipeline
    # Each part read straight into its own dtype: a VAE kept in fp32 never passes through bf16.
    dtypes = {"default": precision.compute, "vae": precision.vae}
    return arch, cls.from_pretrained(location, torch_dtype=dtypes, **extra, **hub)


def _load_hub(repo_id: str, precision: Precision) -> tuple[Architecture, Any]:
    # The cache first: no network round trip when the model is already here.
    try:
        return _load_folder(repo_id, precision, local_files_only=True)
    except Exception:  # not cached (or partially): try the hub itself below
        pass
    try:
        return _load_folder(repo_id, precision)
    except Exception as error:
        raise ModelLoadError(
            f"cannot load hub model {repo_id!r}: it is not in the Hugging Face cache and "
            f"the hub could not provide it ({type(error).__name__}). Fix: "
            + HUB_FIX.format(id=repo_id)
        ) from error


def for_speed(pipe: Any, precision: Precision) -> None:
    """Channels-last convolutions, and casts so that mixed dtypes meet safely.

    The UNet computes in `precision.compute` while the sampler keeps its latents in
    fp32; the VAE (fp32 by default) takes whatever dtype arrives. diffusers' default
    attention processor already calls PyTorch's SDPA.
    """
    for module in (pipe.unet, pipe.vae):
        module.to(memory_format=torch.channels_last)
    if precision.compute != torch.float32:
        cast_inputs(pipe.unet, precision.compute, ("encoder_hidden_states",))
        cast_outputs(pipe.unet, torch.float32)
    for part in ("encoder", "quant_conv", "post_quant_conv", "decoder"):
        if getattr(pipe.vae, part, None) is not None:
            cast_inputs(getattr(pipe.vae, part), precision.vae)
    cast_outputs(pipe.vae.decoder, torch.float32)
    # One image per VAE encode/decode: oneDNN's convolutions give batch 1 other last
    # bits than batch >= 2 (measured on the shipped tiny model), and a request's images
    # must not depend on what shares its call (batching) or its batch_size. The VAE
    # gains little from batching on a CPU; it also caps the decode's peak memory.
    pipe.vae.enable_slicing()


def load(source: Source, device: str, precision: Precision, fast: bool = True,
         native: bool = True) -> LoadedModel:
    """`native`: False ignores the model's native size (every picture drawn as asked)."""
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
    )

    config_dir: Path | None = None  # where a native size may be declared
    if source.kind == "file":
        arch, base = load_single_file(Path(source.location), precision, device, fast)
        config_dir = config_folder(Path(source.location), arch)
    elif source.kind == "hub":
        arch, base = _load_hub(source.location, precision)
    else:
        try:
            arch, base = _load_folder(source.location, precision)
        except Exception as error:
            raise ModelLoadError(f"cannot load {source.location}: {error}") from error
        config_dir = Path(source.location)
    base.to(device)
    for_speed(base, precision)
    base.set_progress_bar_config(disable=True)
    # from_pipe shares the loaded modules: one copy of the weights for all three.
    img2img = AutoPipelineForImage2Image.from_pipe(base)
    inpaint = AutoPipelineForInpainting.from_pipe(base)
    for pipe in (img2img, inpaint):
        pipe.set_progress_bar_config(disable=True)
    return LoadedModel(
        info=source.info, arch=arch, txt2img=base, img2img=img2img, inpaint=inpaint,
        scheduler_config=dict(base.scheduler.config),
        latent_rgb=SDXL_LATENT_RGB if arch == "sdxl" else SD1_LATENT_RGB,
        native_size=read_native_size(config_dir) if native and config_dir else None,
    )
