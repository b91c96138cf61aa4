"""The diffusers -> original SD key export, read back by diffusers' own single-file conversion.

Every model is small and random; what is checked is that each layout (levels,
layers per block, cross-attention or plain up blocks, VAE with or without mid
attention, CLIP of any depth, SDXL's OpenCLIP tower) comes back weight for weight.
"""

from types import SimpleNamespace

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
)
from safetensors import safe_open
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from sdserve.engine import checkpoint_export as export
from sdserve.engine.configs import small_clip_text_config

SD1_LIKE_UNET = SimpleNamespace(
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
)
THREE_LEVEL_VAE = SimpleNamespace(block_out_channels=(8, 16, 32), layers_per_block=1)


@pytest.mark.parametrize(
    ("key", "want"),
    [
        ("time_embedding.linear_2.weight", "time_embed.2.weight"),
        ("conv_in.bias", "input_blocks.0.0.bias"),
        ("down_blocks.1.resnets.1.conv_shortcut.weight", "input_blocks.5.0.skip_connection.weight"),
        ("down_blocks.0.downsamplers.0.conv.weight", "input_blocks.3.0.op.weight"),
        ("mid_block.resnets.1.time_emb_proj.bias", "middle_block.2.emb_layers.1.bias"),
        ("mid_block.attentions.0.proj_out.weight", "middle_block.1.proj_out.weight"),
        # A plain up block's upsampler follows its resnet, a cross-attention one's its attention.
        ("up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"),
        ("up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight"),
        # norm1 inside an attention block keeps its name; only a resnet's norm1 is renamed.
        ("up_blocks.2.attentions.1.transformer_blocks.0.norm1.weight",
         "output_blocks.7.1.transformer_blocks.0.norm1.weight"),
        ("up_blocks.2.resnets.2.norm1.weight", "output_blocks.8.0.in_layers.0.weight"),
        ("conv_out.weight", "out.2.weight"),
    ],
)
def test_unet_keys_take_their_original_names(key, want):
    assert export.renamed_key(key, export.unet_key_map(SD1_LIKE_UNET)) == want


@pytest.mark.parametrize(
    ("key", "want"),
    [
        ("encoder.down_blocks.1.resnets.0.norm1.weight", "encoder.down.1.block.0.norm1.weight"),
        ("encoder.down_blocks.0.downsamplers.0.conv.bias", "encoder.down.0.downsample.conv.bias"),
        ("encoder.mid_block.attentions.0.to_out.0.bias", "encoder.mid.attn_1.proj_out.bias"),
        ("decoder.mid_block.resnets.0.conv1.weight", "decoder.mid.block_1.conv1.weight"),
        # The original numbers decoder levels from the highest resolution.
        ("decoder.up_blocks.0.resnets.1.conv_shortcut.weight",
         "decoder.up.2.block.1.nin_shortcut.weight"),
        ("decoder.up_blocks.2.upsamplers.0.conv.weight", "decoder.up.0.upsample.conv.weight"),
        ("decoder.conv_norm_out.weight", "decoder.norm_out.weight"),
        ("post_quant_conv.bias", "post_quant_conv.bias"),
    ],
)
def test_vae_keys_take_their_original_names(key, want):
    assert export.renamed_key(key, export.vae_key_map(THREE_LEVEL_VAE)) == want


@pytest.mark.parametrize(
    "key", ["class_embedding.linear_1.weight", "down_blocks.0.resnets.9.conv1.weight", "weight"]
)
def test_a_key_with_no_original_name_is_an_error_naming_it(key):
    with pytest.raises(ValueError, match=key):
        export.renamed_key(key, export.unet_key_map(SD1_LIKE_UNET))


def small_unet(**extra) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(8, 16, 16),
        layers_per_block=2,
        down_block_types=SD1_LIKE_UNET.down_block_types,
        up_block_types=SD1_LIKE_UNET.up_block_types,
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=4,
        **extra,
    )


SDXL_LIKE = {
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 4,
    "projection_class_embeddings_input_dim": 32 + 6 * 4,
    "transformer_layers_per_block": 2,
    "use_linear_projection": True,
}


def same_weights(module: torch.nn.Module, converted: dict[str, torch.Tensor]) -> bool:
    state = module.state_dict()
    return converted.keys() == state.keys() and all(
        torch.equal(converted[k], state[k]) for k in state
    )


@pytest.mark.parametrize("extra", [{}, SDXL_LIKE], ids=["sd1-like", "sdxl-like"])
def test_unet_comes_back_through_diffusers_conversion(extra):
    torch.manual_seed(0)
    unet = small_unet(**extra)
    state = {export.UNET_PREFIX + k: v for k, v in export.unet_state(unet).items()}
    assert same_weights(unet, convert_ldm_unet_checkpoint(state, dict(unet.config)))


@pytest.mark.parametrize(
    ("groups", "mid_attention"), [(4, True), (1, False)], ids=["sd-like", "shapes-like"]
)
def test_vae_comes_back_through_diffusers_conversion(groups, mid_attention):
    torch.manual_seed(0)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        layers_per_block=2,
        latent_channels=4,
        norm_num_groups=groups,
        mid_block_add_attention=mid_attention,
    )
    state = {export.VAE_PREFIX + k: v for k, v in export.vae_state(vae).items()}
    has_attention = any(".mid.attn_1.q." in k for k in state)
    assert has_attention == mid_attention
    assert all(v.ndim == 4 for k, v in state.items() if ".attn_1.q.weight" in k)
    assert same_weights(vae, convert_ldm_vae_checkpoint(state, dict(vae.config)))


def without_wrapper(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict:
    # The converters name keys as transformers < 5.6 did, with a `text_model.` level.
    if hasattr(model, "text_model"):
        return state
    return {k.removeprefix("text_model."): v for k, v in state.items()}


@pytest.mark.parametrize("layers", [1, 3])
def test_clip_comes_back_through_diffusers_conversion(layers):
    torch.manual_seed(0)
    config = small_clip_text_config(width=32, layers=layers, heads=4, intermediate=64)
    encoder = CLIPTextModel(config)
    state = {export.SD1_TEXT_PREFIX + k: v for k, v in export.clip_state(encoder).items()}
    assert f"{export.SD1_TEXT_PREFIX}text_model.encoder.layers.{layers - 1}.mlp.fc1.weight" in state
    assert same_weights(encoder, without_wrapper(encoder, convert_ldm_clip_checkpoint(state)))


def test_open_clip_comes_back_through_diffusers_conversion():
    torch.manual_seed(0)
    config = small_clip_text_config(width=32, layers=2, heads=4, intermediate=64)
    encoder = CLIPTextModelWithProjection(config)
    prefix = export.SDXL_OPEN_CLIP_PREFIX
    state = {prefix + k: v for k, v in export.open_clip_state(encoder).items()}
    assert state[prefix + "transformer.resblocks.1.attn.in_proj_weight"].shape == (96, 32)
    converted = convert_open_clip_checkpoint(encoder, state, prefix=prefix)
    assert same_weights(encoder, without_wrapper(encoder, converted))


def test_the_single_file_holds_every_part_under_its_prefix(tmp_path):
    torch.manual_seed(0)
    config = small_clip_text_config(width=32, layers=1, heads=4, intermediate=64)
    parts = SimpleNamespace(
        unet=small_unet(),
        vae=AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=4),
        text_encoder=CLIPTextModel(config),
    )
    path = tmp_path / "model.safetensors"
    export.save_single_file(parts, path, metadata={"format": "pt"})
    with safe_open(str(path), "pt") as checkpoint:
        assert checkpoint.metadata() == {"format": "pt"}
        keys = checkpoint.keys()
    assert {key.split(".")[0] for key in keys} == {"model", "first_stage_model", "cond_stage_model"}
