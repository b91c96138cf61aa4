"""A smoke run of the training command, so the training code cannot rot."""

import random

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline
from safetensors.torch import load_file

from sdserve.tinysd import architecture
from sdserve.tinysd.dataset import render, scene_for
from sdserve.tinysd.export import SINGLE_FILE_NAME
from sdserve.tinysd.train import main
from sdserve.tinysd.vae_training import (
    SHAPE_CODES,
    shape_codes,
    to_tensor,
    vae_batch,
    whiten_latents,
)


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    assert main(["--out", str(out), "--minutes", "0.2", "--max-steps", "2", "--threads", "1"]) == 0
    return out


def test_writes_a_folder_diffusers_loads_and_runs(smoke_model):
    pipe = StableDiffusionPipeline.from_pretrained(smoke_model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        "a red circle on a white background",
        height=64,
        width=64,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.size == (64, 64)


def test_single_file_uses_sd_key_names(smoke_model):
    keys = load_file(smoke_model / SINGLE_FILE_NAME).keys()
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"model", "first_stage_model", "cond_stage_model"}
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "first_stage_model.decoder.conv_out.weight" in keys
    assert (
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in keys
    )


def test_single_file_loads_the_same_weights_as_the_folder(smoke_model):
    folder = StableDiffusionPipeline.from_pretrained(smoke_model, torch_dtype=torch.float32)
    single = StableDiffusionPipeline.from_single_file(
        str(smoke_model / SINGLE_FILE_NAME),
        config=str(smoke_model),
        torch_dtype=torch.float32,
        safety_checker=None,
    )
    for name in ("unet", "vae", "text_encoder"):
        a, b = getattr(folder, name).state_dict(), getattr(single, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_shipped_size_budget(smoke_model):
    total = sum(f.stat().st_size for f in smoke_model.rglob("*") if f.is_file())
    assert total <= 30 * 1000 * 1000


def test_vae_only_run_writes_a_vae_a_later_run_goes_on_from(tmp_path):
    first = ["--out", str(tmp_path / "a"), "--vae-only", "--minutes", "0.1", "--max-steps", "2"]
    assert main([*first, "--threads", "1"]) == 0
    argv = ["--out", str(tmp_path / "b"), "--vae", str(tmp_path / "a" / "vae"), "--vae-only"]
    assert main([*argv, "--minutes", "0.1", "--max-steps", "2", "--threads", "1"]) == 0
    assert AutoencoderKL.from_pretrained(tmp_path / "b" / "vae") is not None


def test_the_models_vae_samples_are_its_means(smoke_model):
    vae = AutoencoderKL.from_pretrained(smoke_model / "vae")
    posterior = vae.encode(torch.rand(1, 3, 64, 64) * 2 - 1).latent_dist
    # img2img samples the posterior; the decoder was trained on means only.
    assert torch.allclose(posterior.sample(), posterior.mean, atol=1e-4)


def test_a_vae_that_fails_the_gate_is_refused(tmp_path):
    untrained = tmp_path / "untrained"
    architecture.vae().save_pretrained(untrained)
    with pytest.raises(SystemExit, match="VAE gate failed"):
        main(["--out", str(tmp_path / "out"), "--vae", str(untrained), "--threads", "1"])


def test_whitening_is_exact_and_gives_sd_scaled_unit_latents():
    torch.manual_seed(0)
    vae = architecture.vae().eval()
    with torch.no_grad():  # an untrained VAE's latents are far from zero-mean, unit-variance
        vae.quant_conv.bias[:4] += torch.tensor([0.5, -1.0, 2.0, 0.0])
    pixels = to_tensor([render(scene_for(i), 64) for i in range(8)])
    with torch.no_grad():
        before = vae.decode(vae.encode(pixels).latent_dist.mean).sample
        whiten_latents(vae)
        latents = vae.encode(pixels).latent_dist.mean * architecture.SD_SCALING_FACTOR
        after = vae.decode(latents / architecture.SD_SCALING_FACTOR).sample
    assert torch.allclose(before, after, atol=1e-4)
    assert latents.mean(dim=(0, 2, 3)).abs().max() < 0.5
    assert ((latents.std(dim=(0, 2, 3)) - 1).abs() < 0.5).all()


def test_vae_batches_hold_pictures_and_their_shape_codes():
    rng = random.Random(0)
    for _ in range(30):
        pixels, codes, sizes = vae_batch(rng, 4)
        assert pixels.shape[0] == codes.shape[0] == len(sizes)
        assert pixels.shape[2:] == codes.shape[2:]
        assert all(int(size) >= pixels.shape[-1] for size in sizes)
        assert codes.shape[1] == 1
        assert set(codes.unique().tolist()) <= set(SHAPE_CODES.tolist())
        # Code 0 is the background, drawn in one colour no object has; objects are not 0.
        for picture, code in zip(pixels, codes[:, 0], strict=True):
            if (code == 0).any():
                y, x = (code == 0).nonzero()[0]
                background = (picture == picture[:, y, x][:, None, None]).all(0)
                assert torch.equal(code == 0, background)


def test_shape_codes_name_each_shape_apart_from_the_background():
    labels = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    codes = shape_codes([labels])[0, 0]
    assert codes[0, 0] == 0 and len(set(codes.flatten().tolist())) == 4

