"""Load an SD 1.x single-file checkpoint quickly: empty modules, weights assigned in.

The modules are built with their parameters on the meta device (no memory, no
random init), the checkpoint's tensors are read once, renamed to diffusers'
keys, converted to their compute dtype and memory format in one copy, and
assigned as the modules' parameters (`load_state_dict(assign=True)`). The
result is the same pipeline `from_single_file` builds, in less time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sdserve.engine.errors import ModelLoadError
from sdserve.engine.precision import Precision

# Real SD 1.5 checkpoints carry CLIP's position ids; transformers rebuilds them itself.
POSITION_IDS = "embeddings.position_ids"


def build_empty(config_dir: Path) -> dict[str, torch.nn.Module]:
    """UNet, VAE and text encoder of config_dir, with no weights yet."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    # Parameters only: buffers (CLIP's position ids) are made for real.
    with init_empty_weights():
        return {
            "unet": UNet2DConditionModel.from_config(
                UNet2DConditionModel.load_config(config_dir / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(config_dir / "vae")),
            "text_encoder": CLIPTextModel(
                CLIPTextConfig.from_pretrained(config_dir / "text_encoder")),
        }


def _text_encoder_state(checkpoint: dict[str, torch.Tensor], model: torch.nn.Module) -> dict:
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint

    state = convert_ldm_clip_checkpoint(checkpoint)
    if not hasattr(model, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        state = {k.removeprefix("text_model."): v for k, v in state.items()}
    state.pop(POSITION_IDS, None)
    state.pop("text_model." + POSITION_IDS, None)
    return state


def converted_states(checkpoint: dict[str, torch.Tensor],
                     modules: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """Original SD keys -> each module's diffusers keys (tensors are not copied)."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    return {
        "unet": convert_ldm_unet_checkpoint(checkpoint, modules["unet"].config),
        "vae": convert_ldm_vae_checkpoint(checkpoint, modules["vae"].config),
        "text_encoder": _text_encoder_state(checkpoint, modules["text_encoder"]),
    }


def _placed(tensor: torch.Tensor, dtype: torch.dtype, device: str) -> torch.Tensor:
    # Convolution weights go channels-last in the same copy that changes their dtype.
    layout = torch.channels_last if tensor.ndim == 4 else torch.contiguous_format
    return tensor.to(device=device, dtype=dtype, memory_format=layout)


def assign(modules: dict[str, torch.nn.Module], states: dict[str, dict[str, torch.Tensor]],
           precision: Precision, device: str) -> None:
    dtypes = {"unet": precision.compute, "text_encoder": precision.compute, "vae": precision.vae}
    for name, module in modules.items():
        state = {k: _placed(v, dtypes[name], device) for k, v in states[name].items()}
        result = module.load_state_dict(state, strict=False, assign=True)
        if result.missing_keys or result.unexpected_keys:
            raise ModelLoadError(
                f"{name}: the checkpoint does not fit the SD 1.x architecture "
                f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
            )
        module.to(device).eval()  # the real buffers follow the weights


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as error:  # a truncated or foreign file: say which
        raise ModelLoadError(f"cannot read {path}: {error}") from error


def pipeline(modules: dict[str, torch.nn.Module], config_dir: Path) -> Any:
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    from sdserve.engine.configs import load_clip_tokenizer

    return StableDiffusionPipeline(
        **modules, tokenizer=load_clip_tokenizer(),
        scheduler=PNDMScheduler.from_config(PNDMScheduler.load_config(config_dir / "scheduler")),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def load_sd1(path: Path, config_dir: Path, precision: Precision, device: str) -> Any:
    """The SD 1.x pipeline of a single-file checkpoint, in `precision` on `device`."""
    modules = build_empty(config_dir)
    checkpoint = read_checkpoint(path)
    try:
        states = converted_states(checkpoint, modules)
        del checkpoint  # the states hold the only references now
        assign(modules, states, precision, device)
    except ModelLoadError:
        raise
    except Exception as error:  # missing keys, wrong shapes: a checkpoint of another model
        raise ModelLoadError(f"cannot load {path} as an SD 1.x checkpoint: {error}") from error
    return pipeline(modules, config_dir)
