"""The shapes model's export: an fp16 diffusers folder and an A1111 single file that both
of the engine's loaders (its fast loader, diffusers' from_single_file) read back exactly."""

import pytest
import torch
from diffusers import StableDiffusionPipeline
from safetensors import safe_open

from sdserve.engine.fast_load import load_sd1
from sdserve.engine.native_size import read_native_size
from sdserve.engine.precision import Precision
from sdserve.tinysd import architecture
from sdserve.tinysd.export import SINGLE_FILE_METADATA, SINGLE_FILE_NAME, export

FP32 = Precision(compute=torch.float32, vae=torch.float32)
PARTS = ("unet", "vae", "text_encoder")


def shapes_pipeline() -> StableDiffusionPipeline:
    torch.manual_seed(0)
    return StableDiffusionPipeline(
        vae=architecture.vae(),
        text_encoder=architecture.text_encoder(),
        tokenizer=architecture.tokenizer(),
        unet=architecture.unet(),
        scheduler=architecture.scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    pipe = shapes_pipeline()
    export(pipe, folder, folder / SINGLE_FILE_NAME)
    return pipe, folder


@pytest.fixture(scope="module")
def from_folder(exported):
    _, folder = exported
    return StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)


def assert_same_weights(a, b):
    for name in PARTS:
        want, got = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert want.keys() == got.keys(), name
        assert all(torch.equal(want[k], got[k]) for k in want), name


def test_the_pipeline_is_back_in_fp32_and_the_files_are_fp16(exported):
    pipe, folder = exported
    assert all(getattr(pipe, name).dtype == torch.float32 for name in PARTS)
    with safe_open(str(folder / SINGLE_FILE_NAME), "pt") as checkpoint:
        assert checkpoint.metadata() == SINGLE_FILE_METADATA
        key = "first_stage_model.decoder.conv_out.weight"
        assert checkpoint.get_tensor(key).dtype == torch.float16


def test_the_vae_has_no_mid_attention_in_the_single_file(exported):
    _, folder = exported
    with safe_open(str(folder / SINGLE_FILE_NAME), "pt") as checkpoint:
        keys = checkpoint.keys()
    assert "first_stage_model.decoder.mid.block_2.conv2.weight" in keys
    assert not [k for k in keys if ".mid.attn_1." in k]


def test_diffusers_single_file_loader_reads_the_folders_weights(exported, from_folder):
    _, folder = exported
    single = StableDiffusionPipeline.from_single_file(
        str(folder / SINGLE_FILE_NAME),
        config=str(folder),
        torch_dtype=torch.float32,
        safety_checker=None,
    )
    assert_same_weights(from_folder, single)


def test_the_engines_fast_loader_reads_the_folders_weights(exported, from_folder):
    _, folder = exported
    fast = load_sd1(folder / SINGLE_FILE_NAME, folder, FP32, "cpu")
    assert_same_weights(from_folder, fast)


def test_the_folder_declares_the_native_size(exported):
    _, folder = exported
    assert read_native_size(folder) == architecture.NATIVE_SIZE == 256
