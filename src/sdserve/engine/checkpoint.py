"""Loading one A1111-style `.safetensors` checkpoint with configs that ship with sdserve.

The architecture is read from the checkpoint's keys. The component configs come
from a diffusers folder beside the file when there is one (the shipped tiny
models), else from sdserve's SD 1.5 / SDXL base config folders, so no network
is needed; the tokenizers always come from sdserve's CLIP tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from sdserve.engine.errors import ModelLoadError
from sdserve.engine.precision import Precision

Architecture = Literal["sd1", "sdxl"]

SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."
SD2_OPEN_CLIP_PREFIX = "cond_stage_model.model."
UNET_PREFIX = "model.diffusion_model."


def detect_architecture(keys: Iterable[str]) -> Architecture:
    keys = set(keys)
    if any(k.startswith(SDXL_OPEN_CLIP_PREFIX) for k in keys):
        return "sdxl"
    if SD1_TEXT_KEY in keys:
        return "sd1"
    if any(k.startswith(SD2_OPEN_CLIP_PREFIX) for k in keys):
        raise ModelLoadError("SD 2.x checkpoints are not supported (only SD 1.x and SDXL)")
    if not any(k.startswith(UNET_PREFIX) for k in keys):
        raise ModelLoadError("not a Stable Diffusion checkpoint: no model.diffusion_model.* keys")
    raise ModelLoadError("unrecognised checkpoint: no SD 1.x or SDXL text encoder keys")


def read_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except Exception as error:  # a truncated or foreign file: say which
        raise ModelLoadError(f"cannot read {path}: {error}") from error


def config_folder(path: Path, arch: Architecture) -> Path:
    from sdserve.engine.configs import SD1_CONFIG_DIR, SDXL_CONFIG_DIR
    from sdserve.engine.sources import is_pipeline_folder

    if is_pipeline_folder(path.parent):
        return path.parent
    return SDXL_CONFIG_DIR if arch == "sdxl" else SD1_CONFIG_DIR


def load_single_file(path: Path, precision: Precision, device: str,
                     fast: bool = True) -> tuple[Architecture, Any]:
    """The pipeline of one checkpoint file. SD 1.x takes the fast loader unless `fast` is
    False; SDXL (and the comparison in tests and bench) takes diffusers' from_single_file."""
    arch = detect_architecture(read_keys(path))
    if fast and arch == "sd1":
        from sdserve.engine import fast_load

        return arch, fast_load.load_sd1(path, config_folder(path, arch), precision, device)
    return arch, _from_single_file(path, arch, precision, device)


def _from_single_file(path: Path, arch: Architecture, precision: Precision, device: str) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from sdserve.engine.configs import OPEN_CLIP_PAD_TOKEN, load_clip_tokenizer

    tokenizers: dict[str, Any] = {"tokenizer": load_clip_tokenizer()}
    pipeline_class: Any = StableDiffusionPipeline
    if arch == "sdxl":
        pipeline_class = StableDiffusionXLPipeline
        tokenizers["tokenizer_2"] = load_clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN)
    else:
        tokenizers.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipe = pipeline_class.from_single_file(
            str(path), config=str(config_folder(path, arch)), local_files_only=True,
            torch_dtype=precision.vae, **tokenizers,
        )
    except Exception as error:
        raise ModelLoadError(f"cannot load {path} as an {arch} checkpoint: {error}") from error
    # Read in the VAE's dtype, then the rest cast down: no part passes through a lower one.
    for name in ("unet", "text_encoder", "text_encoder_2"):
        part = getattr(pipe, name, None)
        if part is not None and part.dtype != precision.compute:
            part.to(precision.compute)
    return pipe
