"""The shapes model's parts: real Stable Diffusion classes, sized to train on 2 CPU cores.

The UNet does its costly work at low resolution (thin 16-channel first level,
attention only at 1/4 and 1/8 of the latent), so a 512x512, 50-step request
stays within a few seconds of one core. The VAE keeps SD's x8 latent factor and
4 latent channels but not SD's mid-block attention: at 512 px it would add 57 ms to
a decode in fp32 (4 ms in bf16), and a decoder given one drew shapes no better
(BENCHMARKS.md).
"""

from __future__ import annotations

from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from sdserve.engine.configs import load_clip_tokenizer, small_clip_text_config

TEXT_WIDTH = 32
SD_SCALING_FACTOR = 0.18215  # SD 1.x's latent scale; the VAE is rescaled to match it
# Trained at 64-512 px, the model draws best at 256 px: at 512 px its UNet draws copies or
# wrong outlines, at 64 px blobs (BENCHMARKS.md). The engine draws there and resizes
# (sdserve.engine.native_size).
NATIVE_SIZE = 256


def tokenizer() -> CLIPTokenizer:
    return load_clip_tokenizer()


def text_encoder() -> CLIPTextModel:
    return CLIPTextModel(
        small_clip_text_config(width=TEXT_WIDTH, layers=3, heads=4, intermediate=4 * TEXT_WIDTH)
    )


def unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32, 64, 128),
        down_block_types=(
            "DownBlock2D",
            "DownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
        ),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,
        norm_num_groups=8,
    )


def vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 64),
        layers_per_block=1,
        latent_channels=4,
        # One group: with 8 groups the 8-channel first and last levels normalise every
        # channel on its own (an instance norm), which erases a picture's absolute colour.
        norm_num_groups=1,
        sample_size=512,
        scaling_factor=SD_SCALING_FACTOR,
        mid_block_add_attention=False,
    )


def scheduler() -> EulerAncestralDiscreteScheduler:
    """SD 1.x's training noise schedule, with A1111's default sampler."""
    return EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
    )
