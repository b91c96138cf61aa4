"""The shipped SD 1.5 / SDXL base configs describe the real architectures.

Built on the meta device (no memory, no weights): parameter counts match the
published models, and the checkpoint layout they imply has the key names and
shapes of real A1111 checkpoints.
"""

from types import SimpleNamespace

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from sdserve.engine.checkpoint_export import checkpoint_state
from sdserve.engine.configs import SD1_CONFIG_DIR, SDXL_CONFIG_DIR

MILLION = 1e6


def components(folder):
    with torch.device("meta"):
        parts = {
            "unet": UNet2DConditionModel.from_config(
                UNet2DConditionModel.load_config(folder / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
            "text_encoder": CLIPTextModel(
                CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        }
        if (folder / "text_encoder_2").is_dir():
            parts["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2"))
    return parts


def millions(module) -> float:
    return sum(p.numel() for p in module.parameters()) / MILLION


@pytest.fixture(scope="module")
def sd1():
    return components(SD1_CONFIG_DIR)


@pytest.fixture(scope="module")
def sdxl():
    return components(SDXL_CONFIG_DIR)


def test_sd1_parameter_counts(sd1):
    assert millions(sd1["unet"]) == pytest.approx(859.52, abs=0.1)
    assert millions(sd1["vae"]) == pytest.approx(83.65, abs=0.1)
    assert millions(sd1["text_encoder"]) == pytest.approx(123.06, abs=0.1)


def test_sdxl_parameter_counts(sdxl):
    assert millions(sdxl["unet"]) == pytest.approx(2567.46, abs=0.1)
    assert millions(sdxl["vae"]) == pytest.approx(83.65, abs=0.1)
    assert millions(sdxl["text_encoder"]) == pytest.approx(123.06, abs=0.1)
    assert millions(sdxl["text_encoder_2"]) == pytest.approx(694.66, abs=0.1)


def layout(parts):
    # checkpoint_state reads only the components, so a namespace of them stands in for a pipeline.
    return {k: tuple(v.shape) for k, v in checkpoint_state(SimpleNamespace(**parts)).items()}


# Keys and shapes as they appear in runwayml's v1-5-pruned and SDXL base 1.0's sd_xl_base_1.0.
SD1_REAL_KEYS = {
    "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
    "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320, 1, 1),
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
    "model.diffusion_model.middle_block.1.proj_out.weight": (1280, 1280, 1, 1),
    "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.output_blocks.5.2.conv.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.out.2.weight": (4, 320, 3, 3),
    "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
    "first_stage_model.decoder.mid.attn_1.q.weight": (512, 512, 1, 1),
    "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc1.weight": (3072, 768),
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
}
SDXL_REAL_KEYS = {
    "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
    "model.diffusion_model.input_blocks.3.0.op.weight": (320, 320, 3, 3),
    "model.diffusion_model.input_blocks.4.1.proj_in.weight": (640, 640),
    "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight": (1280, 2048),
    "model.diffusion_model.middle_block.1.transformer_blocks.9.ff.net.2.weight": (1280, 5120),
    "model.diffusion_model.output_blocks.2.2.conv.weight": (1280, 1280, 3, 3),
    "model.diffusion_model.output_blocks.8.0.skip_connection.weight": (320, 640, 1, 1),
    "first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3),
    "conditioner.embedders.0.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight":
        (768, 768),
    "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight": (3840, 1280),
    "conditioner.embedders.1.model.text_projection": (1280, 1280),
    "conditioner.embedders.1.model.positional_embedding": (77, 1280),
}


def test_sd1_checkpoint_layout_matches_real_checkpoints(sd1):
    keys = layout(sd1)
    assert {k: keys.get(k) for k in SD1_REAL_KEYS} == SD1_REAL_KEYS


def test_sdxl_checkpoint_layout_matches_real_checkpoints(sdxl):
    keys = layout(sdxl)
    assert {k: keys.get(k) for k in SDXL_REAL_KEYS} == SDXL_REAL_KEYS
