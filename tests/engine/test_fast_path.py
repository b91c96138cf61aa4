"""The CPU fast path: dtype choice, bf16 against fp32, and the fast single-file loader.

Tolerances for the tiny model (random weights, narrow layers, so noisier than SD 1.5):
one UNet call in bf16 within 3 % relative error of fp32 (bench/engine.py checks 1 %
on the SD 1.5 architecture), the final 64 px image within 35 dB PSNR of fp32.
"""

import io

import numpy as np
import pytest
import torch

from sdserve.engine import Engine, GenerationRequest, ModelLoadError, tiny
from sdserve.engine import precision as p
from sdserve.engine.checkpoint import load_single_file
from sdserve.engine.configs import SD1_CONFIG_DIR
from tests.pictures import psnr

SMALL = {"width": 64, "height": 64, "steps": 3, "prompt": "pretty dog", "seed": 7}
BF16_UNET_REL_ERROR = 0.03
# 32 dB on the shipped (trained) tiny model at 64 px, 47.6 dB on the SD 1.5 architecture
# at 256 px (BENCHMARKS.md): a small trained model with CFG 7 amplifies rounding.
BF16_MIN_PSNR_DB = 30.0
AMX = frozenset({"fpu", "avx512f", "amx_bf16"})


@pytest.mark.parametrize(
    ("setting", "vae", "device", "flags", "want"),
    [
        ("auto", "auto", "cpu", AMX, (torch.bfloat16, torch.bfloat16)),
        ("auto", "auto", "cpu", frozenset({"avx512_bf16"}), (torch.bfloat16, torch.bfloat16)),
        ("auto", "auto", "cpu", frozenset({"avx2"}), (torch.float32, torch.float32)),
        ("auto", "auto", "cuda", frozenset(), (torch.float16, torch.float32)),
        ("auto", "float32", "cpu", AMX, (torch.bfloat16, torch.float32)),
        ("float32", "auto", "cpu", AMX, (torch.float32, torch.float32)),
        (" BFloat16 ", "auto", "cpu", frozenset(), (torch.bfloat16, torch.bfloat16)),
        ("", "", "cpu", frozenset(), (torch.float32, torch.float32)),
    ],
)
def test_dtype_choice(setting, vae, device, flags, want):
    chosen = p.choose(setting, device, flags, vae)
    assert (chosen.compute, chosen.vae) == want


@pytest.mark.parametrize(("setting", "vae", "field"),
                         [("half", "auto", "SDSERVE_DTYPE"), ("auto", "fp8", "SDSERVE_VAE_DTYPE")])
def test_bad_dtype_names_the_setting(setting, vae, field):
    with pytest.raises(ValueError, match=field):
        p.choose(setting, "cpu", AMX, vae)


def test_cpu_flags_are_read_from_cpuinfo_text():
    text = "processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_tile\nbogomips\t: 1\n"
    assert p.parse_cpu_flags(text) == {"fpu", "avx512_bf16", "amx_tile"}
    assert p.parse_cpu_flags("processor: 0\n") == frozenset()


def test_environment_sets_the_dtype():
    assert p.from_environment("cpu", {"SDSERVE_DTYPE": "float32"}).compute == torch.float32
    chosen = p.from_environment("cpu", {"SDSERVE_DTYPE": "bfloat16",
                                        "SDSERVE_VAE_DTYPE": "float32"})
    assert (chosen.compute, chosen.vae) == (torch.bfloat16, torch.float32)


def image(engine, request=None):
    return np.asarray(engine.generate(request or GenerationRequest(**SMALL)).images[0])


def png_bytes(engine, request):
    out = io.BytesIO()
    engine.generate(request).images[0].save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def engines():
    loaded = {}
    for dtype in ("float32", "bfloat16"):
        engine = Engine(dtype=dtype)
        engine.load("tiny")
        loaded[dtype] = engine
    return loaded


def test_bf16_unet_step_within_tolerance_of_fp32(engines):
    torch.manual_seed(0)
    sample = torch.randn(2, 4, 8, 8)
    context = torch.randn(2, 77, tiny.HIDDEN)
    outputs = {}
    for dtype, engine in engines.items():
        unet = engine._model.txt2img.unet
        with torch.inference_mode():
            outputs[dtype] = unet(sample, torch.tensor(500.0), encoder_hidden_states=context,
                                  return_dict=False)[0]
    # The casts at the UNet's edges: fp32 in, fp32 out, bf16 inside.
    assert outputs["bfloat16"].dtype == torch.float32
    assert engines["bfloat16"]._model.txt2img.unet.dtype == torch.bfloat16
    reference = outputs["float32"]
    error = (outputs["bfloat16"] - reference).norm() / reference.norm()
    assert error < BF16_UNET_REL_ERROR


def test_bf16_image_within_tolerance_of_fp32(engines):
    assert psnr(image(engines["float32"]), image(engines["bfloat16"])) > BF16_MIN_PSNR_DB


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_request_same_png_bytes(engines, dtype):
    request = GenerationRequest(**SMALL)
    assert png_bytes(engines[dtype], request) == png_bytes(engines[dtype], request)


def test_img2img_runs_with_a_bf16_unet(engines):
    from PIL import Image

    init = Image.new("RGB", (64, 64), (200, 40, 40))
    result = engines["bfloat16"].generate(GenerationRequest(**SMALL, init_images=(init,)))
    assert result.images[0].size == (64, 64)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny SD 1.x single file built here (weights seed 3); its folder gives the configs."""
    folder = tmp_path_factory.mktemp("tiny3")
    tiny.write(tiny.build(seed=3), folder)
    return folder / tiny.SINGLE_FILE_NAME


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fast_loader_matches_from_single_file(checkpoint, dtype):
    images = []
    for fast in (True, False):
        engine = Engine(dtype=dtype, fast_load=fast)
        engine.load(str(checkpoint))
        images.append(image(engine))
    assert np.array_equal(images[0], images[1])


def test_fast_loader_assigns_weights_with_no_meta_left(checkpoint):
    chosen = p.choose("bfloat16", "cpu", AMX)
    _, pipe = load_single_file(checkpoint, chosen, "cpu", fast=True)
    for name in ("unet", "vae", "text_encoder"):
        module = getattr(pipe, name)
        tensors = [*module.parameters(), *module.buffers()]
        assert all(t.device.type == "cpu" for t in tensors), name
    assert pipe.unet.dtype == torch.bfloat16
    conv = pipe.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)


def test_checkpoint_that_does_not_fit_is_a_clear_error(checkpoint):
    from sdserve.engine import fast_load

    # The tiny file against the full-size SD 1.5 configs: the shapes do not fit.
    with pytest.raises(ModelLoadError, match=r"SD 1\.x"):
        fast_load.load_sd1(checkpoint, SD1_CONFIG_DIR, p.choose("float32", "cpu", AMX), "cpu")
