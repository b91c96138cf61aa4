"""Write a diffusers pipeline as one A1111-style checkpoint with the original SD key names.

This is the inverse of diffusers' single-file conversion, so that the shipped
`tiny` models (and test models) exist in the form A1111 users keep them. The
key layout follows the original CompVis/Stability `ldm`/`sgm` modules:
`model.diffusion_model.*` (UNet), `first_stage_model.*` (VAE), and
`cond_stage_model.transformer.*` (SD 1.x) or `conditioner.embedders.{0,1}.*` (SDXL).
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


def _rename_inner(rest: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        if rest == old or rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


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
        "mid_block.resnets.0": "middle_block.0",
        "mid_block.attentions.0": "middle_block.1",
        "mid_block.resnets.1": "middle_block.2",
    }
    for d in range(len(config.down_block_types)):
        first = 1 + d * (per_block + 1)
        for layer in range(per_block):
            mapping[f"down_blocks.{d}.resnets.{layer}"] = f"input_blocks.{first + layer}.0"
            mapping[f"down_blocks.{d}.attentions.{layer}"] = f"input_blocks.{first + layer}.1"
        mapping[f"down_blocks.{d}.downsamplers.0.conv"] = f"input_blocks.{first + per_block}.0.op"
    for u, block_type in enumerate(config.up_block_types):
        first = u * (per_block + 1)
        for layer in range(per_block + 1):
            mapping[f"up_blocks.{u}.resnets.{layer}"] = f"output_blocks.{first + layer}.0"
            mapping[f"up_blocks.{u}.attentions.{layer}"] = f"output_blocks.{first + layer}.1"
        upsampler_slot = 2 if "CrossAttn" in block_type else 1
        mapping[f"up_blocks.{u}.upsamplers.0.conv"] = (
            f"output_blocks.{first + per_block}.{upsampler_slot}.conv"
        )
    return mapping


def _convert_by_prefix(
    state: dict[str, torch.Tensor], mapping: dict[str, str], inner: dict[str, str]
) -> dict[str, torch.Tensor]:
    # Longest prefixes first so "conv_out" never shadows a longer, more specific name.
    prefixes = sorted(mapping, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        prefix = next((p for p in prefixes if key.startswith(p + ".")), None)
        if prefix is None:
            raise ValueError(f"no original name for {key!r}")
        rest = key[len(prefix) + 1 :]
        if ".resnets." in prefix:
            rest = _rename_inner(rest, inner)
        out[mapping[prefix] + "." + rest] = value
    return out


def unet_state(unet: Any) -> dict[str, torch.Tensor]:
    return _convert_by_prefix(unet.state_dict(), unet_key_map(unet.config), UNET_RESNET_NAMES)


def vae_state(vae: Any) -> dict[str, torch.Tensor]:
    levels = len(vae.config.block_out_channels)
    out = {}
    for key, value in vae.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out")
        new = new.replace("mid_block.resnets.0", "mid.block_1")
        new = new.replace("mid_block.resnets.1", "mid.block_2")
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            head, _, rest = new.partition("attn_1.")
            new = head + "attn_1." + _rename_inner(rest, VAE_ATTENTION_NAMES)
            if value.ndim == 2:  # the original attention uses 1x1 convolutions
                value = value[:, :, None, None]
        for i in range(levels):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(
                f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."
            )
            # The decoder's levels are numbered from the bottom in the original.
            level = levels - 1 - i
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{level}.block.")
            new = new.replace(
                f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{level}.upsample."
            )
        new = new.replace(".conv_shortcut.", ".nin_shortcut.")
        out[new] = value
    return out


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
    out = {
        "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": state["text_model.final_layer_norm.weight"],
        "ln_final.bias": state["text_model.final_layer_norm.bias"],
        # OpenCLIP multiplies by the projection on the right: x @ P.
        "text_projection": state["text_projection.weight"].T.contiguous(),
    }
    layer_prefix = "text_model.encoder.layers."
    for index in range(text_encoder.config.num_hidden_layers):
        src = f"{layer_prefix}{index}."
        dst = f"transformer.resblocks.{index}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat(
                [state[src + f"self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]
            )
        for key, value in state.items():
            if key.startswith(src) and "_proj." not in key.replace("out_proj.", ""):
                rest = _rename_inner(key[len(src) :], OPEN_CLIP_LAYER_NAMES)
                out[dst + rest] = value
    return out


def checkpoint_state(pipe: Any) -> dict[str, torch.Tensor]:
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


def save_single_file(pipe: Any, path: Path) -> None:
    state = {k: v.contiguous() for k, v in checkpoint_state(pipe).items()}
    save_file(state, str(path))
