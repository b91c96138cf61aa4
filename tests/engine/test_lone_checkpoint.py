"""A `.safetensors` checkpoint alone in a folder loads with the shipped configs, offline.

The shipped sd1/sdxl configs describe full-size models, so these tests point the
engine's shipped-config folders at the configs of small pipelines of the same
architecture; everything else (key detection, from_single_file, tokenizers) is
the real path a lone A1111 checkpoint takes.
"""

import socket

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from sdserve.engine import Engine, GenerationRequest, configs, tiny
from sdserve.engine.checkpoint import config_folder
from sdserve.engine.checkpoint_export import save_single_file
from sdserve.engine.configs import OPEN_CLIP_PAD_TOKEN, load_clip_tokenizer

SMALL = {"width": 64, "height": 64, "steps": 2, "prompt": "pretty dog", "seed": 5}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(sock, address):
        raise AssertionError(f"loading tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def lone_copy(folder, tmp_path):
    """Move the folder's single-file twin to a directory of its own."""
    lone = tmp_path / "checkpoints" / "model.safetensors"
    lone.parent.mkdir()
    (folder / tiny.SINGLE_FILE_NAME).rename(lone)
    return lone


def images_from(*models):
    engine = Engine()
    request = GenerationRequest(**SMALL)
    results = []
    for model in models:
        engine.load(str(model))
        results.append(np.asarray(engine.generate(request).images[0]))
    return results


def test_lone_file_takes_the_shipped_config_folder(tmp_path):
    path = tmp_path / "model.safetensors"
    assert config_folder(path, "sd1") == configs.SD1_CONFIG_DIR
    assert config_folder(path, "sdxl") == configs.SDXL_CONFIG_DIR


def test_lone_sd1_checkpoint_loads_offline(tmp_path, monkeypatch):
    folder = tmp_path / "tiny-sd1"
    tiny.write(tiny.build(seed=3), folder)
    lone = lone_copy(folder, tmp_path)
    monkeypatch.setattr(configs, "SD1_CONFIG_DIR", folder)
    from_folder, from_file = images_from(folder, lone)
    assert from_file.shape == (64, 64, 3)
    assert np.array_equal(from_folder, from_file)


def text_encoder_config(hidden: int, act: str) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, projection_dim=hidden,
        hidden_act=act, bos_token_id=49406, eos_token_id=49407,
    )


def tiny_sdxl() -> StableDiffusionXLPipeline:
    torch.manual_seed(0)
    # The two encoders must differ in width, as CLIP-L and bigG do: diffusers tells them
    # apart by their embedding width.
    clip_l, big_g, time_embed_dim = 32, 48, 8
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), transformer_layers_per_block=(1, 2),
        use_linear_projection=True, cross_attention_dim=clip_l + big_g,
        addition_embed_type="text_time", addition_time_embed_dim=time_embed_dim,
        # six size/crop numbers, each embedded, plus bigG's pooled projection
        projection_class_embeddings_input_dim=6 * time_embed_dim + big_g,
        norm_num_groups=32,
    )
    return StableDiffusionXLPipeline(
        vae=tiny.vae(),
        text_encoder=CLIPTextModel(text_encoder_config(clip_l, "quick_gelu")),
        text_encoder_2=CLIPTextModelWithProjection(text_encoder_config(big_g, "gelu")),
        tokenizer=load_clip_tokenizer(),
        tokenizer_2=load_clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN),
        unet=unet,
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                         beta_schedule="scaled_linear", steps_offset=1),
    )


def test_lone_sdxl_checkpoint_loads_offline_and_generates(tmp_path, monkeypatch):
    folder = tmp_path / "tiny-sdxl"
    pipe = tiny_sdxl()
    pipe.save_pretrained(folder)
    save_single_file(pipe, folder / tiny.SINGLE_FILE_NAME)
    lone = lone_copy(folder, tmp_path)
    monkeypatch.setattr(configs, "SDXL_CONFIG_DIR", folder)
    from_folder, from_file = images_from(folder, lone)
    assert from_file.shape == (64, 64, 3)
    assert np.array_equal(from_folder, from_file)
