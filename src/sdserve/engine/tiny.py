"""Build `tiny-b`: a small SD-1.x-architecture pipeline with random weights.

It has every part of a real Stable Diffusion pipeline (CLIP text encoder with
the real tokenizer, a cross-attention UNet, a VAE with the real x8 latent
factor), only narrow: a second shipped model, so that switching models can be
tested and tried offline. (The default, `tiny`, is the trained shapes model:
sdserve.tinysd.) A fixed seed makes the build deterministic:

    python -m sdserve.engine.tiny --out src/sdserve/models/tiny-b --seed 1

The folder is a diffusers pipeline folder and also holds `tiny.safetensors`,
the same weights as a single A1111-style checkpoint with the original SD keys.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel

from sdserve.engine.checkpoint_export import save_single_file
from sdserve.engine.configs import CLIP_TOKENIZER_DIR, load_clip_tokenizer, small_clip_text_config

SINGLE_FILE_NAME = "tiny.safetensors"
# Stored as fp16 to keep the shipped files small; the engine computes in fp32.
STORAGE_DTYPE = torch.float16
HIDDEN = 32


def text_encoder() -> CLIPTextModel:
    return CLIPTextModel(
        small_clip_text_config(width=HIDDEN, layers=2, heads=2, intermediate=2 * HIDDEN)
    )


def unet() -> UNet2DConditionModel:
    # Attention only at half the latent resolution: at A1111's default 512x512
    # (64x64 latents, 4096 tokens) full-resolution attention would cost ~9x more.
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def vae() -> AutoencoderKL:
    # Four levels, three of them downsampling: 512 px -> 64 latents, as in SD.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.18215,
        # The mid-block attention runs over every latent pixel; drop it to stay cheap.
        mid_block_add_attention=False,
    )


def scheduler() -> PNDMScheduler:
    # Stable Diffusion 1.5's own noise schedule.
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def build(seed: int) -> StableDiffusionPipeline:
    torch.manual_seed(seed)
    return StableDiffusionPipeline(
        vae=vae(),
        text_encoder=text_encoder(),
        tokenizer=load_clip_tokenizer(),
        unet=unet(),
        scheduler=scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def write(pipe: StableDiffusionPipeline, out: Path) -> None:
    pipe.to(STORAGE_DTYPE)
    # The tokenizer ships once with sdserve (configs/clip_tokenizer); the loader adds it.
    tokenizer, pipe.tokenizer = pipe.tokenizer, None
    pipe.register_modules(tokenizer=None)
    pipe.save_pretrained(out, safe_serialization=True)
    pipe.register_modules(tokenizer=tokenizer)
    save_single_file(pipe, out / SINGLE_FILE_NAME)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (tiny: 0, tiny-b: 1)")
    args = parser.parse_args(argv)
    write(build(args.seed), args.out)
    print(f"wrote {args.out} (tokenizer from {CLIP_TOKENIZER_DIR})")


if __name__ == "__main__":
    main()
