"""sdserve's engine against plain diffusers, on the SD 1.5 architecture with random weights.

Builds SD 1.5 (UNet, VAE, CLIP ViT-L text encoder) from sdserve's shipped configs
with seeded random weights (the same compute as the real model), writes it once
as an A1111-style fp16 single file into ~/.cache/sdserve-bench, and then, in one
run on one device, measures
  (a) plain diffusers as a user writes it: from_single_file, fp32 on CPU, fp16 on CUDA
  (b) plain diffusers with torch_dtype=torch.bfloat16 (CPU only)
  (c) sdserve's Engine (its default dtype, channels-last, fast loader)
with the same prompt, starting noise and Euler a seeds, so images compare by PSNR.
Then the cold start of `sdserve worker --model <that file>`: exec -> /healthz 200
and -> first image, with a breakdown measured in a child process.

    .venv/bin/python bench/engine.py [--device cpu|cuda] [--size 256] [--steps 4]
                                     [--batches 1,2,4] [--quick] [--json]

--quick runs the shipped tiny model at 64 px (for CI: it checks the script, not speed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

CACHE = Path.home() / ".cache" / "sdserve-bench"
FULL_NAME = "sd15-random-seed{seed}.safetensors"
PROMPT = "a photograph of an astronaut riding a horse on the moon"
SEED = 1234
CFG = 7.0
SAMPLER = "Euler a"
RUNS = 3
PEAK_SIZE = 2048
PEAK_RUNS = 10
HEALTH_POLL_S = 0.02
WORKER_TIMEOUT_S = 600


# -- the model file ------------------------------------------------------------------


def full_checkpoint(seed: int = 0) -> Path:
    """The SD 1.5 architecture with seeded random weights, written once (fp16, A1111 keys)."""
    path = CACHE / FULL_NAME.format(seed=seed)
    if path.exists():
        return path
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdserve.engine.checkpoint_export import save_single_file
    from sdserve.engine.configs import SD1_CONFIG_DIR

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(
        SD1_CONFIG_DIR / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD1_CONFIG_DIR / "vae"))
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(SD1_CONFIG_DIR / "text_encoder"))
    parts = SimpleNamespace(unet=unet.half(), vae=vae.half(), text_encoder=text.half())
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_single_file(parts, partial)
    partial.rename(path)  # a killed run leaves no half-written checkpoint behind
    return path


def tiny_checkpoint() -> Path:
    from sdserve.engine import tiny
    from sdserve.engine.sources import SHIPPED_DIR

    return SHIPPED_DIR / "tiny" / tiny.SINGLE_FILE_NAME


# -- measuring -------------------------------------------------------------------------


def timed(call: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def matmul_peak(dtype: Any, device: str) -> float:
    """FLOP/s of a 2048² torch.mm in `dtype` (median of PEAK_RUNS)."""
    import torch

    a = torch.randn(PEAK_SIZE, PEAK_SIZE, dtype=dtype, device=device)
    b = torch.randn(PEAK_SIZE, PEAK_SIZE, dtype=dtype, device=device)

    def call() -> None:
        torch.mm(a, b)
        sync(device)

    return 2 * PEAK_SIZE**3 / statistics.median(timed(call, PEAK_RUNS, warmup=3))


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def flops(call: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def noise(batch: int, size: int) -> Any:
    from sdserve.engine import seeds

    return [seeds.image_noise(SEED + i, 0, 0.0, (4, size // 8, size // 8)) for i in range(batch)]


# -- (a) and (b): plain diffusers ------------------------------------------------------


def plain_pipeline(path: Path, dtype: Any, device: str) -> Any:
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline

    from sdserve.engine.checkpoint import config_folder
    from sdserve.engine.configs import load_clip_tokenizer

    # A user would give only the path; offline, the config and tokenizer must be local.
    pipe = StableDiffusionPipeline.from_single_file(
        str(path), config=str(config_folder(path, "sd1")), local_files_only=True,
        torch_dtype=dtype, tokenizer=load_clip_tokenizer(), safety_checker=None,
        requires_safety_checker=False,
    ).to(device)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def plain_images(pipe: Any, batch: int, args: argparse.Namespace) -> list[np.ndarray]:
    import torch

    from sdserve.engine import seeds

    # The same starting noise and per-image generators as the engine, so images compare.
    images = pipe(
        prompt=[PROMPT] * batch, negative_prompt=[""] * batch, num_inference_steps=args.steps,
        guidance_scale=CFG, width=args.size, height=args.size,
        latents=torch.stack(noise(batch, args.size)).to(pipe.unet.dtype),
        generator=[seeds.cpu_generator(SEED + i) for i in range(batch)],
    ).images
    return [np.asarray(image) for image in images]


def unet_inputs(pipe: Any, args: argparse.Namespace) -> tuple:
    """One CFG UNet call's inputs (batch 2), in fp32, from the fp32 pipeline's text encoder."""
    import torch

    with torch.inference_mode():
        embeds, negative = pipe.encode_prompt(PROMPT, args.device, 1, True, "")
    latents = torch.stack(noise(1, args.size) * 2)
    return latents, torch.tensor(999.0), torch.cat([negative, embeds]).float()


def measure_plain(path: Path, dtype: Any, args: argparse.Namespace, fp32_unet: bool) -> dict:
    import torch

    pipe = plain_pipeline(path, dtype, args.device)
    images: list[np.ndarray] = []

    def call() -> None:
        images[:] = plain_images(pipe, 1, args)
        sync(args.device)

    with torch.inference_mode():
        seconds = timed(call, args.runs)
    result = {"s": statistics.median(seconds), "runs": seconds, "image": images[0]}
    if fp32_unet:  # the per-step reference for the engine's UNet
        inputs = unet_inputs(pipe, args)
        with torch.inference_mode():
            result["unet_inputs"] = inputs
            result["unet_output"] = pipe.unet(inputs[0].to(dtype), inputs[1],
                                              encoder_hidden_states=inputs[2].to(dtype),
                                              return_dict=False)[0].float()
    return result


# -- (c): sdserve's engine -----------------------------------------------------------


def engine_request(batch: int, args: argparse.Namespace) -> Any:
    from sdserve.engine import GenerationRequest

    return GenerationRequest(prompt=PROMPT, negative_prompt="", seed=SEED, sampler_name=SAMPLER,
                             steps=args.steps, cfg_scale=CFG, width=args.size, height=args.size,
                             batch_size=batch)


def measure_engine(path: Path, args: argparse.Namespace, reference: dict) -> dict:
    import torch

    from sdserve.engine import Engine

    engine = Engine(device=args.device, threads=args.threads)
    engine.load(str(path))
    model = engine._model  # the bench looks inside to time and count the UNet and VAE alone
    assert model is not None
    pipe = model.txt2img
    per_batch: dict[int, float] = {}
    images: list[np.ndarray] = []
    for batch in args.batches:
        request = engine_request(batch, args)

        def call(request: Any = request) -> None:
            images[:] = [np.asarray(i) for i in engine.generate(request).images]
            sync(args.device)

        per_batch[batch] = statistics.median(timed(call, args.runs))
        if batch == 1:
            first = images[0]
    latents, timestep, embeds = reference["unet_inputs"]
    latent = latents[:1] / pipe.vae.config.scaling_factor

    with torch.inference_mode():
        def unet() -> Any:
            return pipe.unet(latents, timestep, encoder_hidden_states=embeds,
                             return_dict=False)[0]

        def vae() -> Any:
            return pipe.vae.decode(latent, return_dict=False)[0]

        def text() -> Any:
            return pipe.encode_prompt(PROMPT, args.device, 1, True, "")

        output = unet().float()
        expected = reference["unet_output"]
        relative_error = float((output - expected).norm() / expected.norm())
        unet_s = statistics.median(timed(lambda: (unet(), sync(args.device)), args.runs))
        vae_s = statistics.median(timed(lambda: (vae(), sync(args.device)), args.runs))
        counts = {"unet_step": flops(unet), "vae_decode": flops(vae), "text_encoder": flops(text)}
    best = max(per_batch, key=lambda b: b / per_batch[b])
    return {
        "s": per_batch[1], "per_batch_s": per_batch, "best_batch": best,
        "best_images_per_s": best / per_batch[best], "image": first, "unet_step_s": unet_s,
        "vae_decode_s": vae_s, "flops": counts, "unet_step_rel_error": relative_error,
        "dtype": engine.precision.label, "vae_dtype": str(engine.precision.vae)[6:],
    }


# -- cold start ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_cold_start(path: Path, args: argparse.Namespace) -> dict:
    """exec of `sdserve worker --model path` -> /healthz 200 -> first txt2img answered."""
    import httpx

    port = free_port()
    command = [str(Path(sys.executable).parent / "sdserve"), "worker", "--model", str(path),
               "--host", "127.0.0.1", "--port", str(port), "--device", args.device]
    env = dict(os.environ, SDSERVE_THREADS=str(args.threads))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=WORKER_TIMEOUT_S) as client:
            healthy = None
            while healthy is None:
                if process.poll() is not None:
                    raise RuntimeError(f"the worker exited with {process.returncode}")
                if time.perf_counter() - started > WORKER_TIMEOUT_S:
                    raise RuntimeError("the worker did not become healthy")
                try:
                    if client.get(base + "/healthz").status_code == 200:
                        healthy = time.perf_counter() - started
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(HEALTH_POLL_S)
            response = client.post(base + "/sdapi/v1/txt2img", json={
                "prompt": PROMPT, "seed": SEED, "steps": args.steps, "width": args.size,
                "height": args.size, "cfg_scale": CFG, "sampler_name": SAMPLER})
            response.raise_for_status()
            first_image = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=60)
    return {"healthz_s": healthy, "first_image_s": first_image}


def phases_child(path: Path, fast: bool, size: int, steps: int, threads: int) -> dict:
    """Run in a fresh interpreter: each phase of a cold start, timed on its own."""
    started = time.time()
    clock = time.perf_counter()
    import torch  # noqa: F401  (the import is what is timed)
    from diffusers import (  # noqa: F401
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        StableDiffusionPipeline,
    )

    from sdserve.engine import Engine, fast_load, sources
    from sdserve.engine.checkpoint import config_folder

    out: dict[str, Any] = {"started": started, "imports_s": time.perf_counter() - clock}
    clock = time.perf_counter()
    sources.Hasher().sha256(path)
    out["hash_s"] = time.perf_counter() - clock
    construction = 0.0
    if fast:  # timed alone here; the slow path builds and loads in one call
        clock = time.perf_counter()
        fast_load.build_empty(config_folder(path, "sd1"))
        construction = time.perf_counter() - clock
    out["construction_s"] = construction
    engine = Engine(threads=threads, fast_load=fast)
    clock = time.perf_counter()
    engine.load(str(path))
    out["weight_load_s"] = time.perf_counter() - clock - out["hash_s"] - construction
    args = argparse.Namespace(size=size, steps=steps)
    clock = time.perf_counter()
    engine.generate(engine_request(1, args))
    out["first_call_s"] = time.perf_counter() - clock
    return out


def cold_start_phases(path: Path, fast: bool, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--phases", "fast" if fast else "slow", "--model",
               str(path), "--size", str(args.size), "--steps", str(args.steps),
               "--threads", str(args.threads)]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    phases["interpreter_s"] = phases.pop("started") - started
    return phases


# -- report ----------------------------------------------------------------------------


def library_versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in
            ("torch", "diffusers", "transformers", "safetensors", "accelerate")}


def cpu_description() -> dict:
    from sdserve.engine.precision import BF16_CPU_FLAGS, read_cpu_flags

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = read_cpu_flags()
    shown = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in BF16_CPU_FLAGS)
    return {"model": model, "cores": os.cpu_count(), "flags": shown}


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    path = tiny_checkpoint() if args.quick else full_checkpoint()
    cuda = args.device.startswith("cuda")
    low = torch.float16 if cuda else torch.bfloat16
    peak = {"float32": matmul_peak(torch.float32, args.device),
            "low": matmul_peak(low, args.device)}
    a = measure_plain(path, torch.float16 if cuda else torch.float32, args, fp32_unet=True)
    b = None if cuda else measure_plain(path, torch.bfloat16, args, fp32_unet=False)
    c = measure_engine(path, args, a)
    per_image = c["flops"]["text_encoder"] + args.steps * c["flops"]["unet_step"] + \
        c["flops"]["vae_decode"]
    networks = c["flops"]["unet_step"] + c["flops"]["vae_decode"]
    engine_peak = peak["low"] if c["dtype"] != "float32" else peak["float32"]
    cold = worker_cold_start(path, args)
    report = {
        "model": "tiny" if args.quick else "SD 1.5 architecture, random weights",
        "checkpoint": str(path), "device": args.device, "threads": args.threads,
        "size": args.size, "steps": args.steps, "sampler": SAMPLER, "cfg": CFG,
        "cpu": cpu_description(), "versions": library_versions(),
        "baseline_fp32_s": a["s"], "baseline_bf16_s": b["s"] if b else None,
        "sdserve_s": c["s"], "sdserve_dtype": c["dtype"], "sdserve_vae_dtype": c["vae_dtype"],
        "sdserve_per_batch_s": c["per_batch_s"], "sdserve_best_batch": c["best_batch"],
        "sdserve_images_per_s": 1 / c["s"],
        "sdserve_best_images_per_s": c["best_images_per_s"],
        "baseline_fp32_images_per_s": 1 / a["s"],
        "baseline_bf16_images_per_s": 1 / b["s"] if b else None,
        "ratio_vs_fp32": c["s"] / a["s"], "ratio_vs_bf16": c["s"] / b["s"] if b else None,
        "flops_per_image": per_image, "flops": c["flops"],
        "matmul_peak_flops": peak, "unet_step_s": c["unet_step_s"],
        "vae_decode_s": c["vae_decode_s"],
        "flop_fraction": networks / (c["unet_step_s"] + c["vae_decode_s"]) / engine_peak,
        "flop_fraction_end_to_end": per_image / c["s"] / engine_peak,
        "unet_step_rel_error": c["unet_step_rel_error"],
        "psnr_db": psnr(a["image"], c["image"]),
        "psnr_bf16_baseline_db": psnr(a["image"], b["image"]) if b else None,
        "cold_start_healthz_s": cold["healthz_s"],
        "cold_start_first_image_s": cold["first_image_s"],
        "cold_start_phases_fast": cold_start_phases(path, True, args),
        "cold_start_phases_slow": cold_start_phases(path, False, args),
    }
    return report


def markdown(r: dict) -> str:
    def s(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f} s"

    def ips(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    phases = ("interpreter_s", "imports_s", "hash_s", "construction_s", "weight_load_s",
              "first_call_s")
    fast, slow = r["cold_start_phases_fast"], r["cold_start_phases_slow"]
    lines = [
        f"{r['model']}, {r['size']}×{r['size']}, {r['steps']} steps, {r['sampler']}, "
        f"CFG {r['cfg']:g}, device {r['device']}, {r['threads']} threads",
        f"CPU: {r['cpu']['model']} ({r['cpu']['cores']} cores; {' '.join(r['cpu']['flags'])})",
        "versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()), "",
        "| | (a) diffusers fp32 | (b) diffusers bf16 | (c) sdserve |",
        "| --- | --- | --- | --- |",
        f"| latency per image (batch 1, median of ≥3) | {s(r['baseline_fp32_s'])} | "
        f"{s(r['baseline_bf16_s'])} | {s(r['sdserve_s'])} ({r['sdserve_dtype']}, "
        f"VAE {r['sdserve_vae_dtype']}) |",
        f"| images/s, batch 1 | {ips(r['baseline_fp32_images_per_s'])} | "
        f"{ips(r['baseline_bf16_images_per_s'])} | {ips(r['sdserve_images_per_s'])} |",
        f"| images/s, best batch | | | {ips(r['sdserve_best_images_per_s'])} "
        f"(batch {r['sdserve_best_batch']}) |",
        f"| PSNR against (a) | — | {r['psnr_bf16_baseline_db'] or 0:.1f} dB | "
        f"{r['psnr_db']:.1f} dB |",
        f"| ratio (c) / this | {r['ratio_vs_fp32']:.2f} | "
        f"{r['ratio_vs_bf16'] or 0:.2f} | |", "",
        f"FLOPs per image {r['flops_per_image'] / 1e12:.3f} T (UNet step with CFG "
        f"{r['flops']['unet_step'] / 1e12:.3f} T, VAE decode {r['flops']['vae_decode'] / 1e12:.3f}"
        f" T, text encoder {r['flops']['text_encoder'] / 1e12:.4f} T); matmul peak "
        f"{r['matmul_peak_flops']['float32'] / 1e9:.0f} GFLOP/s fp32, "
        f"{r['matmul_peak_flops']['low'] / 1e9:.0f} GFLOP/s bf16/fp16.",
        f"sdserve UNet step {r['unet_step_s']:.2f} s, VAE decode {r['vae_decode_s']:.2f} s: "
        f"{r['flop_fraction']:.0%} of the matmul peak (end to end "
        f"{r['flop_fraction_end_to_end']:.0%}"
        f"); UNet step relative error against fp32 {r['unet_step_rel_error']:.2%}.", "",
        f"Cold start, `sdserve worker --model <file>`: /healthz 200 after "
        f"{r['cold_start_healthz_s']:.2f} s, first image after "
        f"{r['cold_start_first_image_s']:.2f} s.", "",
        "| phase | fast loader | from_single_file |", "| --- | --- | --- |",
        *[f"| {p.removesuffix('_s').replace('_', ' ')} | {fast[p]:.2f} s | {slow[p]:.2f} s |"
          for p in phases],
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", type=int, help="width and height (default 256, quick 64)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batches", default="1,2,4", help="engine batch sizes to try")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs after a warm-up")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="the tiny model (CI)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--phases", choices=("fast", "slow"), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.size = args.size or (64 if args.quick else 256)
    if args.phases:  # the cold-start child
        print(json.dumps(phases_child(args.model, args.phases == "fast", args.size, args.steps,
                                      args.threads)))
        return 0
    args.batches = [int(b) for b in args.batches.split(",")]
    if 1 not in args.batches:
        args.batches.insert(0, 1)
    report = run(args)
    print(json.dumps(report, default=str) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
