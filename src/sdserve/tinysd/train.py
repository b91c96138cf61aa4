"""Train the shapes model from scratch on the CPU: `python -m sdserve.tinysd.train --out DIR`.

Three phases share one time budget (`--minutes`):
1. the VAE, on crops of pictures drawn at several sizes, so edges look alike at every size;
2. pre-encoding captioned pictures at 64, 128, 256 and 512 px into latents, once;
3. the UNet and text encoder together on those latents, every step one size, so the
   model learns to draw one coherent picture at each size (not a tiled pattern).
Seeds are fixed; with `--max-steps` a run is reproducible regardless of speed.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline

from sdserve.tinysd import architecture
from sdserve.tinysd.dataset import render, scene_for
from sdserve.tinysd.export import export

VAE_SHARE = 0.12  # of the budget
ENCODE_SHARE = 0.08
# Under a busy CPU the VAE's time share can pass in a few steps; colours need this many.
VAE_MIN_STEPS = 300
VAE_CROP = 32  # small crops: edges and flat colour are local, and cost 4x less than 64
VAE_RENDER_SIZES = (32, 64, 96, 128, 192, 256)
# latent side -> (pictures pre-encoded per budget minute, batch size, chance a step uses it)
BUCKETS = {8: (400, 32, 0.35), 16: (100, 12, 0.2), 32: (30, 4, 0.2), 64: (10, 1, 0.25)}
UNCONDITIONAL_RATE = 0.1  # captions dropped, so classifier-free guidance works
EMA_DECAY = 0.999


@dataclass(frozen=True)
class Budget:
    seconds: float
    max_steps: int | None = None  # per phase, for smoke runs and reproducible runs
    min_steps: int = 0  # a phase whose result the next one cannot do without

    def share(self, fraction: float, min_steps: int = 0) -> Budget:
        floor = 0 if self.max_steps is not None else min_steps
        return Budget(self.seconds * fraction, self.max_steps, floor)


def to_tensor(images: list) -> torch.Tensor:
    array = np.stack([np.asarray(i, dtype=np.float32) for i in images]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def steps(budget: Budget) -> Iterator[tuple[int, float]]:
    """(step, fraction of the phase done) until the phase's time or step budget runs out."""
    start = time.monotonic()
    step = 0
    while True:
        elapsed = time.monotonic() - start
        done = elapsed / budget.seconds if budget.seconds > 0 else 1.0
        if budget.max_steps is not None:
            done = max(done, step / budget.max_steps)
        if done >= 1.0 and step >= budget.min_steps:
            return
        yield step, min(done, 1.0)
        step += 1


def cosine(base: float, done: float) -> float:
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))


def vae_batch(rng: random.Random, batch: int) -> torch.Tensor:
    crops = []
    for _ in range(batch):
        size = rng.choice(VAE_RENDER_SIZES)
        image = render(scene_for(rng.randrange(2**31)), size)
        x, y = rng.randrange(size - VAE_CROP + 1), rng.randrange(size - VAE_CROP + 1)
        crops.append(image.crop((x, y, x + VAE_CROP, y + VAE_CROP)))
    return to_tensor(crops)


def train_vae(vae, budget: Budget, rng: random.Random, log) -> None:
    optimiser = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
    vae.train()
    for step, done in steps(budget):
        for group in optimiser.param_groups:
            group["lr"] = cosine(2e-3, done)
        pixels = vae_batch(rng, 32)
        posterior = vae.encode(pixels).latent_dist
        decoded = vae.decode(posterior.sample()).sample
        recon = F.mse_loss(decoded, pixels) + 0.5 * F.l1_loss(decoded, pixels)
        loss = recon + 1e-6 * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 50 == 0:
            log(f"vae step {step} done {done:.2f} recon {recon.item():.4f}")
    vae.eval()


@torch.no_grad()
def match_sd_latent_scale(vae, rng: random.Random) -> None:
    """Rescale the latent space so SD's fixed 0.18215 scaling gives unit variance.

    Loaders of A1111 single files assume SD's scale; folding it into the
    weights keeps the model exact under either loading path.
    """
    pixels = torch.cat([vae_batch(rng, 16) for _ in range(4)])
    std = vae.encode(pixels).latent_dist.mean.std().item()
    k = 1.0 / (architecture.SD_SCALING_FACTOR * std)
    channels = vae.config.latent_channels
    vae.quant_conv.weight[:channels] *= k
    vae.quant_conv.bias[:channels] *= k
    vae.quant_conv.bias[channels:] += 2 * math.log(k)  # log-variance of the scaled latent
    vae.post_quant_conv.weight /= k


@torch.no_grad()
def encode_buckets(vae, tok, budget: Budget, minutes: float, log) -> dict[int, tuple]:
    """Per latent side: (scaled latents, token ids) of freshly drawn captioned pictures."""
    buckets = {}
    seed = 0
    per_bucket = budget.share(1 / len(BUCKETS))
    for side, (per_minute, _, _) in BUCKETS.items():
        wanted = max(4, round(per_minute * minutes))
        latents, ids = [], []
        for step, _ in steps(per_bucket):
            if step * 8 >= wanted:
                break
            scenes = [scene_for(10**9 + seed + i) for i in range(8)]
            seed += 8
            pixels = to_tensor([render(s, side * 8) for s in scenes])
            latents.append(vae.encode(pixels).latent_dist.mean * architecture.SD_SCALING_FACTOR)
            ids.append(
                tok(
                    [s.caption.text for s in scenes],
                    padding="max_length",
                    max_length=77,
                    truncation=True,
                    return_tensors="pt",
                ).input_ids
            )
        buckets[side] = (torch.cat(latents), torch.cat(ids))
        log(f"encoded {len(buckets[side][0])} pictures at {side * 8} px")
    return buckets


def train_unet(unet, text_encoder, tok, buckets, budget: Budget, rng: random.Random, log):
    """Returns the EMA copies of the UNet and text encoder weights."""
    scheduler = architecture.scheduler()
    alphas = scheduler.alphas_cumprod
    empty = tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimiser = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    ema = [copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()]
    sides = list(BUCKETS)
    weights = [BUCKETS[s][2] for s in sides]
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    unet.train()
    text_encoder.train()
    for step, done in steps(budget):
        for group in optimiser.param_groups:
            group["lr"] = cosine(1e-3, done)
        side = rng.choices(sides, weights)[0]
        latents, ids = buckets[side]
        batch = BUCKETS[side][1]
        index = torch.randint(len(latents), (batch,), generator=generator)
        x0, tokens = latents[index], ids[index].clone()
        drop = torch.rand(batch, generator=generator) < UNCONDITIONAL_RATE
        tokens[drop] = empty
        t = torch.randint(0, 1000, (batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        context = text_encoder(tokens)[0]
        loss = F.mse_loss(unet(noisy, t, context).sample, noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, live in zip(ema, (unet, text_encoder), strict=True):
                for pa, pl in zip(averaged.parameters(), live.parameters(), strict=True):
                    pa.lerp_(pl, 1 - decay)
        if step % 50 == 0:
            log(f"unet step {step} side {side} done {done:.2f} loss {loss.item():.4f}")
    return ema


def train(out: Path, minutes: float, seed: int, max_steps: int | None = None, log=print) -> Path:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    started = time.monotonic()
    budget = Budget(minutes * 60, max_steps)
    vae, unet, text_encoder, tok = (
        architecture.vae(),
        architecture.unet(),
        architecture.text_encoder(),
        architecture.tokenizer(),
    )
    train_vae(vae, budget.share(VAE_SHARE, VAE_MIN_STEPS), rng, log)
    match_sd_latent_scale(vae, rng)
    buckets = encode_buckets(vae, tok, budget.share(ENCODE_SHARE), minutes, log)
    # The UNet gets whatever is left, so a slow VAE phase cannot push past the budget.
    left = max(0.0, budget.seconds - (time.monotonic() - started))
    unet_budget = Budget(left, max_steps)
    unet, text_encoder = train_unet(unet, text_encoder, tok, buckets, unet_budget, rng, log)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tok,
        unet=unet,
        scheduler=architecture.scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    export(pipe, out, out / "shapes.safetensors")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output diffusers folder")
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-time budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap on steps per phase (smoke runs, reproducible runs)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:7.1f}s] {message}", flush=True)

    train(args.out, args.minutes, args.seed, args.max_steps, log)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
