"""Write a trained pipeline as a diffusers folder and as an A1111-style single file.

The single file uses the original Stable Diffusion (LDM) key names:
`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.*`.
The renaming is derived from the models' configs, so it follows the layout
(levels, layers per block) rather than assuming SD 1.5's.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextModel

SAVE_DTYPE = torch.float16  # halves the shipped size; SD checkpoints are commonly fp16

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}


def unet_key_map(unet: UNet2DConditionModel) -> dict[str, str]:
    """diffusers prefix -> LDM prefix, for every module that holds weights."""
    per_level = unet.config.layers_per_block
    levels = len(unet.config.block_out_channels)
    prefixes = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "mid_block.resnets.0": "middle_block.0",
        "mid_block.attentions.0": "middle_block.1",
        "mid_block.resnets.1": "middle_block.2",
    }
    for level in range(levels):
        for layer in range(per_level):
            block = 1 + level * (per_level + 1) + layer
            prefixes[f"down_blocks.{level}.resnets.{layer}"] = f"input_blocks.{block}.0"
            prefixes[f"down_blocks.{level}.attentions.{layer}"] = f"input_blocks.{block}.1"
        downsample = 1 + level * (per_level + 1) + per_level
        prefixes[f"down_blocks.{level}.downsamplers.0.conv"] = f"input_blocks.{downsample}.0.op"
    for level, kind in enumerate(unet.config.up_block_types):
        for layer in range(per_level + 1):
            block = level * (per_level + 1) + layer
            prefixes[f"up_blocks.{level}.resnets.{layer}"] = f"output_blocks.{block}.0"
            prefixes[f"up_blocks.{level}.attentions.{layer}"] = f"output_blocks.{block}.1"
        last = level * (per_level + 1) + per_level
        slot = 2 if kind.startswith("CrossAttn") else 1
        prefixes[f"up_blocks.{level}.upsamplers.0.conv"] = f"output_blocks.{last}.{slot}.conv"
    return prefixes


def vae_key_map(vae: AutoencoderKL) -> dict[str, str]:
    levels = len(vae.config.block_out_channels)
    per_level = vae.config.layers_per_block
    prefixes = {
        "quant_conv": "quant_conv",
        "post_quant_conv": "post_quant_conv",
    }
    for part, mid_sides in (("encoder", (1, 2)), ("decoder", (1, 2))):
        prefixes[f"{part}.conv_in"] = f"{part}.conv_in"
        prefixes[f"{part}.conv_norm_out"] = f"{part}.norm_out"
        prefixes[f"{part}.conv_out"] = f"{part}.conv_out"
        prefixes[f"{part}.mid_block.attentions.0"] = f"{part}.mid.attn_1"
        for index, side in enumerate(mid_sides):
            prefixes[f"{part}.mid_block.resnets.{index}"] = f"{part}.mid.block_{side}"
    for level in range(levels):
        for layer in range(per_level):
            prefixes[f"encoder.down_blocks.{level}.resnets.{layer}"] = (
                f"encoder.down.{level}.block.{layer}"
            )
        prefixes[f"encoder.down_blocks.{level}.downsamplers.0.conv"] = (
            f"encoder.down.{level}.downsample.conv"
        )
        # LDM numbers decoder levels from the highest resolution up; diffusers from the lowest.
        ldm_level = levels - 1 - level
        for layer in range(per_level + 1):
            prefixes[f"decoder.up_blocks.{level}.resnets.{layer}"] = (
                f"decoder.up.{ldm_level}.block.{layer}"
            )
        prefixes[f"decoder.up_blocks.{level}.upsamplers.0.conv"] = (
            f"decoder.up.{ldm_level}.upsample.conv"
        )
    return prefixes


def rename(
    state: dict[str, torch.Tensor], prefixes: dict[str, str], inner: dict[str, str]
) -> dict[str, torch.Tensor]:
    """Rename each key by its longest matching module prefix, then its inner layer name."""
    renamed = {}
    ordered = sorted(prefixes, key=len, reverse=True)
    for key, tensor in state.items():
        prefix = next((p for p in ordered if key.startswith(p + ".")), None)
        if prefix is None:
            raise KeyError(f"no LDM name for diffusers key {key!r}")
        rest = key[len(prefix) + 1 :]
        head, _, tail = rest.partition(".")
        if head in inner and tail in ("weight", "bias"):
            rest = f"{inner[head]}.{tail}"
        renamed[f"{prefixes[prefix]}.{rest}"] = tensor
    return renamed


def single_file_state(
    unet: UNet2DConditionModel, vae: AutoencoderKL, text_encoder: CLIPTextModel
) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for key, tensor in rename(unet.state_dict(), unet_key_map(unet), _RESNET).items():
        state[f"model.diffusion_model.{key}"] = tensor
    for key, tensor in rename(vae.state_dict(), vae_key_map(vae), _VAE_RESNET).items():
        state[f"first_stage_model.{key}"] = tensor
    for key, tensor in text_encoder.state_dict().items():
        # transformers 5 drops the `text_model.` level from CLIPTextModel's keys; LDM keeps it.
        name = key if key.startswith("text_model.") else f"text_model.{key}"
        if not key.endswith("position_ids"):
            state[f"cond_stage_model.transformer.{name}"] = tensor
    return {k: v.detach().to(SAVE_DTYPE).contiguous() for k, v in state.items()}


def export(pipe: StableDiffusionPipeline, folder: Path, single_file: Path) -> None:
    pipe.to(SAVE_DTYPE)
    pipe.save_pretrained(folder, safe_serialization=True)
    save_file(
        single_file_state(pipe.unet, pipe.vae, pipe.text_encoder),
        str(single_file),
        metadata={"format": "pt", "sdserve": "shapes"},
    )
    pipe.to(torch.float32)
