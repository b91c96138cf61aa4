"""Write a diffusers pipeline as one A1111-style checkpoint with the original SD key names.

This is the inverse of diffusers' single-file conversion, so that the shipped
`tiny` models, the trained `shapes` model and test models exist in the form
A1111 users keep them. The key layout follows the original CompVis/Stability
`ldm`/`sgm` modules: `model.diffusion_model.*` (UNet), `first_stage_model.*`
(VAE), and `cond_stage_model.transformer.*` (SD 1.x) or `conditioner.embedders.{0,1}.*`
(SDXL). The renaming is derived from each model's config (levels, layers per
block, which up blocks cross-attend, whether the VAE has mid-block attention,
how many text encoder layers), so it follows the layout rather than SD 1.5's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_TEXT_PREFIX = "cond_stage_model.transformer."
SDXL_TEXT_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

UNET_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
VAE_RESNET_NAMES = {"conv_shortcut": "nin_shortcut"}
VAE_ATTENTION_NAMES = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
OPEN_CLIP_LAYER_NAMES = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
# OpenCLIP fuses CLIP's three attention input projections into one `in_proj`.
CLIP_QKV = ("q", "k", "v")


def module_names(old: str, new: str, inner: dict[str, str]) -> dict[str, str]:
    """A module's own prefix, and the prefixes of its layers that the original names otherwise."""
    return {old: new, **{f"{old}.{a}": f"{new}.{b}" for a, b in inner.items()}}


def unet_key_map(config: Any) -> dict[str, str]:
    """diffusers module prefix -> original prefix, for every block of this UNet's config."""
    per_block = config.layers_per_block
    mapping = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "mid_block.attentions.0": "middle_block.1",
    }
    for index, slot in ((0, 0), (1, 2)):
        mapping.update(module_names(
            f"mid_block.resnets.{index}", f"middle_block.{slot}", UNET_RESNET_NAMES))
    for d in range(len(config.down_block_types)):
        first = 1 + d * (per_block + 1)
        for layer in range(per_block):
            mapping.update(module_names(
                f"down_blocks.{d}.resnets.{layer}", f"input_blocks.{first + layer}.0",
                UNET_RESNET_NAMES))
            mapping[f"down_blocks.{d}.attentions.{layer}"] = f"input_blocks.{first + layer}.1"
        mapping[f"down_blocks.{d}.downsamplers.0.conv"] = f"input_blocks.{first + per_block}.0.op"
    for u, block_type in enumerate(config.up_block_types):
        first = u * (per_block + 1)
        for layer in range(per_block + 1):
            mapping.update(module_names(
                f"up_blocks.{u}.resnets.{layer}", f"output_blocks.{first + layer}.0",
                UNET_RESNET_NAMES))
            mapping[f"up_blocks.{u}.attentions.{layer}"] = f"output_blocks.{first + layer}.1"
        # The upsampler follows the last resnet, and its attention where the block has one.
        upsampler_slot = 2 if "CrossAttn" in block_type else 1
        mapping[f"up_blocks.{u}.upsamplers.0.conv"] = (
            f"output_blocks.{first + per_block}.{upsampler_slot}.conv"
        )
    return mapping


def vae_key_map(config: Any) -> dict[str, str]:
    """diffusers module prefix -> original prefix, for every block of this VAE's config."""
    levels = len(config.block_out_channels)
    per_level = config.layers_per_block
    mapping = {"quant_conv": "quant_conv", "post_quant_conv": "post_quant_conv"}
    for part in ("encoder", "decoder"):
        mapping[f"{part}.conv_in"] = f"{part}.conv_in"
        mapping[f"{part}.conv_norm_out"] = f"{part}.norm_out"
        mapping[f"{part}.conv_out"] = f"{part}.conv_out"
        mapping.update(module_names(
            f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", VAE_ATTENTION_NAMES))
        for index in range(2):
            mapping.update(module_names(
                f"{part}.mid_block.resnets.{index}", f"{part}.mid.block_{index + 1}",
                VAE_RESNET_NAMES))
    for level in range(levels):
        for layer in range(per_level):
            mapping.update(module_names(
                f"encoder.down_blocks.{level}.resnets.{layer}",
                f"encoder.down.{level}.block.{layer}", VAE_RESNET_NAMES))
        mapping[f"encoder.down_blocks.{level}.downsamplers.0"] = f"encoder.down.{level}.downsample"
        # The original numbers the decoder's levels from the highest resolution, diffusers
        # from the lowest.
        original = levels - 1 - level
        for layer in range(per_level + 1):
            mapping.update(module_names(
                f"decoder.up_blocks.{level}.resnets.{layer}",
                f"decoder.up.{original}.block.{layer}", VAE_RESNET_NAMES))
        mapping[f"decoder.up_blocks.{level}.upsamplers.0"] = f"decoder.up.{original}.upsample"
    return mapping


def open_clip_key_map(layers: int) -> dict[str, str]:
    """CLIP prefix -> OpenCLIP prefix, for all but the fused q/k/v and the projection."""
    mapping = {
        "text_model.embeddings.token_embedding": "token_embedding",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm": "ln_final",
    }
    for index in range(layers):
        mapping.update(module_names(
            f"text_model.encoder.layers.{index}", f"transformer.resblocks.{index}",
            OPEN_CLIP_LAYER_NAMES))
    return mapping


def renamed_key(key: str, mapping: dict[str, str]) -> str:
    """The key under the longest prefix of it (whole dotted parts) that mapping renames."""
    parts = key.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in mapping:
            return ".".join([mapping[prefix], *parts[length:]])
    raise ValueError(f"no original name for {key!r}")


def rename(state: dict[str, torch.Tensor], mapping: dict[str, str]) -> dict[str, torch.Tensor]:
    return {renamed_key(key, mapping): value for key, value in state.items()}


def unet_state(unet: Any) -> dict[str, torch.Tensor]:
    return rename(unet.state_dict(), unet_key_map(unet.config))


def vae_state(vae: Any) -> dict[str, torch.Tensor]:
    state = rename(vae.state_dict(), vae_key_map(vae.config))
    # The original mid-block attention projects with 1x1 convolutions, diffusers with linears.
    return {
        key: value[:, :, None, None] if ".mid.attn_1." in key and value.ndim == 2 else value
        for key, value in state.items()
    }


def clip_state(text_encoder: Any) -> dict[str, torch.Tensor]:
    """Text encoder keys as the original checkpoints (and older transformers) name them."""
    state = text_encoder.state_dict()
    # transformers >= 5.6 dropped CLIPTextModel's `text_model.` wrapper; the original keeps it.
    return {
        (k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): v
        for k, v in state.items()
    }


def open_clip_state(text_encoder: Any) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection -> OpenCLIP's text tower (SDXL's second encoder)."""
    state = clip_state(text_encoder)
    layers = text_encoder.config.num_hidden_layers
    fused = {}
    for index in range(layers):
        attention = f"text_model.encoder.layers.{index}.self_attn."
        for kind in ("weight", "bias"):
            projections = [state.pop(f"{attention}{p}_proj.{kind}") for p in CLIP_QKV]
            fused[f"transformer.resblocks.{index}.attn.in_proj_{kind}"] = torch.cat(projections)
    # OpenCLIP multiplies by the projection on the right: x @ P.
    fused["text_projection"] = state.pop("text_projection.weight").T.contiguous()
    state.pop("text_model.embeddings.position_ids", None)  # OpenCLIP has none
    return {**rename(state, open_clip_key_map(layers)), **fused}


def checkpoint_state(pipe: Any) -> dict[str, torch.Tensor]:
    """All of the pipeline's weights under their original names (the pipeline's dtypes)."""
    state = {UNET_PREFIX + k: v for k, v in unet_state(pipe.unet).items()}
    state.update({VAE_PREFIX + k: v for k, v in vae_state(pipe.vae).items()})
    if getattr(pipe, "text_encoder_2", None) is not None:
        state.update({SDXL_TEXT_PREFIX + k: v for k, v in clip_state(pipe.text_encoder).items()})
        state.update(
            {SDXL_OPEN_CLIP_PREFIX + k: v for k, v in open_clip_state(pipe.text_encoder_2).items()}
        )
    else:
        state.update({SD1_TEXT_PREFIX + k: v for k, v in clip_state(pipe.text_encoder).items()})
    return state


def save_single_file(pipe: Any, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write the pipeline's unet, vae and text encoder(s) as one `.safetensors` file."""
    state = {k: v.contiguous() for k, v in checkpoint_state(pipe).items()}
    save_file(state, str(path), metadata=metadata)
