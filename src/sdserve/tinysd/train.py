"""Train the shapes model from scratch on the CPU: `python -m sdserve.tinysd.train --out DIR`.

It ships as the default model, `tiny` (src/sdserve/models/tiny: how it was made is in
src/sdserve/models/README.md).

Four phases share one time budget (`--minutes`):
1. the VAE, on crops of pictures drawn at several sizes, so edges look alike at every size;
2. the text encoder, to name each caption's parts from its pad tokens, then frozen
   (see caption_encoder: without it the UNet learns to ignore the caption);
3. pre-encoding captioned pictures at 64, 128, 256 and 512 px into latents, once;
4. the UNet on those latents, every step one size, so the model learns to draw one
   coherent picture at each size (not a tiled pattern).
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
from diffusers import AutoencoderKL, StableDiffusionPipeline
from PIL import Image

from sdserve.tinysd import architecture
from sdserve.tinysd.caption_encoder import token_ids, train_caption_encoder
from sdserve.tinysd.checker import check
from sdserve.tinysd.dataset import render, scene_for
from sdserve.tinysd.export import SINGLE_FILE_NAME, export

VAE_SHARE = 0.15  # of the budget
ENCODE_SHARE = 0.08
# Under a busy CPU the VAE's time share can pass in a few steps; colours need this many.
VAE_MIN_STEPS = 300
# Whole 64 px pictures and 64 px crops of larger ones: a crop must usually hold both an
# object and background, since the decoder's norms see one crop at a time.
VAE_CROP = 64
VAE_RENDER_SIZES = (64, 64, 96, 128, 256, 512)
VAE_LR = 2e-3
VAE_LR_GOING_ON = 5e-4  # a trained VAE is fine-tuned, not shaken up again
VAE_BATCH = 8  # more, smaller steps learn colour sooner than fewer big ones
# The gate: decoded ground truth (held-out scenes) must pass the checker this often.
VAE_GATE = 0.95
VAE_GATE_EVERY = 100
VAE_GATE_PICTURES = 100
# At 64 px the 8x8 latent grid rounds a square's corners: a x8 VAE passes only ~87 % of
# 64 px pictures there (shape; colour 98 %), so the gate judges the sizes it can resolve.
VAE_GATE_SIZES = (128, 256)
VAE_GATE_SEED = 2 * 10**9
# At 0.1 the gate reached 2 % by step 700, at 1.0 20 % (67 % by 1200; 86 % by 3700, held).
VAE_ANCHOR_WEIGHT = 1.0
EXACT_LOG_VARIANCE = -30.0  # the floor diffusers clamps a posterior's log-variance to
# latent side -> (pictures pre-encoded per budget minute, batch size, chance a step uses it)
BUCKETS = {8: (400, 32, 0.3), 16: (100, 12, 0.2), 32: (30, 4, 0.2), 64: (10, 1, 0.3)}
TEXT_ENCODER_STEPS = 600  # its parts loss is ~0.03 by then (0.2 s a step)
# Sampling starts at t=999, where x0 = (x - sqrt(1-a) eps) / sqrt(a) magnifies an eps
# error 15-fold: a barely biased eps there drew every picture blue. So high t is drawn
# more often (t = 1000 sqrt(u)) and each eps error weighs as its x0 error, (1-a)/a,
# clamped to [1, X0_WEIGHT_MAX] so low t still counts and t=999 cannot dominate.
X0_WEIGHT_MAX = 20.0
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
    """64 px crops around an object of pictures drawn at several sizes.

    Centred on an object because backgrounds are grey, black or white: crops taken
    anywhere are mostly background, and the VAE then learns brightness before colour.
    """
    crops = []
    for _ in range(batch):
        size = rng.choice(VAE_RENDER_SIZES)
        scene = scene_for(rng.randrange(2**31))
        thing = rng.choice(scene.objects)
        half, jitter = VAE_CROP // 2, VAE_CROP * 3 // 8
        x = round(thing.cx * size) - half + rng.randint(-jitter, jitter)
        y = round(thing.cy * size) - half + rng.randint(-jitter, jitter)
        x, y = (min(max(v, 0), size - VAE_CROP) for v in (x, y))
        crops.append(render(scene, size).crop((x, y, x + VAE_CROP, y + VAE_CROP)))
    return to_tensor(crops)


def to_image(pixels: torch.Tensor) -> Image.Image:
    array = ((pixels.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(array.numpy())


@torch.no_grad()
def vae_pass_rate(vae, count: int = VAE_GATE_PICTURES) -> float:
    """Share of held-out ground-truth pictures that still pass the checker after a round trip.

    The UNet can only draw what the VAE can decode, so this bounds the whole model.
    """
    passed = 0
    for i in range(count):
        scene = scene_for(VAE_GATE_SEED + i)
        size = VAE_GATE_SIZES[i % len(VAE_GATE_SIZES)]
        pixels = to_tensor([render(scene, size)])
        decoded = vae.decode(vae.encode(pixels).latent_dist.mean).sample[0]
        passed += check(to_image(decoded), scene.caption).all_right
    return passed / count


def train_vae(vae, budget: Budget, rng: random.Random, log, lr: float = VAE_LR) -> float:
    """Train until the gate passes (checked every VAE_GATE_EVERY steps) or the budget ends.

    Returns the last measured pass rate of decoded ground truth.
    """
    optimiser = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    rate = 0.0
    for step, done in steps(budget):
        vae.train()
        for group in optimiser.param_groups:
            group["lr"] = cosine(lr, done)
        pixels = vae_batch(rng, VAE_BATCH)
        # Decoding the mean (a plain autoencoder) learns far faster than decoding samples,
        # whose noise starts as large as the signal; the posterior is made exact afterwards.
        latent = vae.encode(pixels).latent_dist.mean
        decoded = vae.decode(latent).sample
        recon = F.mse_loss(decoded, pixels) + 0.5 * F.l1_loss(decoded, pixels)
        # Flat colour over 8x8 cells: the checker names colours, so they must come back exact.
        cells = F.avg_pool2d(pixels, 8)
        colour = F.mse_loss(F.avg_pool2d(decoded, 8), cells)
        # Three latent channels carry each cell's colour outright (as SD's latents nearly
        # do): it gives the encoder a direct signal and the UNet a colour it can read.
        anchor = F.mse_loss(latent[:, :3], cells)
        # Anchoring fades out: it teaches colour early, then frees the channels for edges.
        loss = recon + colour + VAE_ANCHOR_WEIGHT * (1 - done) * anchor
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 50 == 0:
            losses = f"recon {recon.item():.4f} colour {colour.item():.4f}"
            log(f"vae step {step} done {done:.2f} {losses}")
        if step >= budget.min_steps and step % VAE_GATE_EVERY == VAE_GATE_EVERY - 1:
            vae.eval()
            rate = vae_pass_rate(vae)
            log(f"vae step {step} gate: decoded ground truth passes the checker {rate:.0%}")
            if rate >= VAE_GATE:
                break
    vae.eval()
    return rate


@torch.no_grad()
def make_posterior_exact(vae) -> None:
    """A near-zero variance, so sampling the posterior (as img2img does) gives the mean.

    The decoder was trained on means only; noise of the untrained variance would swamp it.
    """
    channels = vae.config.latent_channels
    vae.quant_conv.weight[channels:] = 0.0
    vae.quant_conv.bias[channels:] = EXACT_LOG_VARIANCE


WHITENING_PICTURES = 64
WHITENING_SIZE = 128
WHITENING_SEED = 3 * 10**9


@torch.no_grad()
def whiten_latents(vae) -> None:
    """Shift and scale each latent channel so SD's fixed 0.18215 scaling gives zero mean
    and unit variance, folded into quant_conv and post_quant_conv (an exact inverse pair).

    Loaders of A1111 single files assume SD's scale, so folding it into the weights keeps
    the model exact under either loading path. The shift matters as much as the scale:
    the colour-anchored channels are far from zero-mean (0.4 to 1.0 on whole pictures),
    and a UNet sampling from noise drifted off them (pictures came out blue).
    """
    scenes = [scene_for(WHITENING_SEED + i) for i in range(WHITENING_PICTURES)]
    pixels = to_tensor([render(s, WHITENING_SIZE) for s in scenes])
    latents = vae.encode(pixels).latent_dist.mean
    mean = latents.mean(dim=(0, 2, 3))
    k = 1.0 / (architecture.SD_SCALING_FACTOR * latents.std(dim=(0, 2, 3)))
    channels = vae.config.latent_channels
    quant, post = vae.quant_conv, vae.post_quant_conv
    # encode: mean' = (mean - mu) * k; log-variance' = log-variance + 2 log k
    quant.weight[:channels] *= k.view(-1, 1, 1, 1)
    quant.bias[:channels] = (quant.bias[:channels] - mean) * k
    quant.bias[channels:] += 2 * torch.log(k)
    # decode: z = z' / k + mu, so post(z) = (W / k) z' + (b + W mu)
    post.bias += (post.weight[:, :, 0, 0] * mean).sum(dim=1)
    post.weight /= k.view(1, -1, 1, 1)


@torch.no_grad()
def encode_buckets(vae, text_encoder, tok, budget: Budget, minutes: float,
                   log) -> dict[int, tuple]:
    """Per latent side: (scaled latents, caption contexts) of freshly drawn pictures.

    The text encoder is frozen by now, so each caption is encoded once, here.
    """
    buckets = {}
    seed = 0
    per_bucket = budget.share(1 / len(BUCKETS))
    for side, (per_minute, _, _) in BUCKETS.items():
        wanted = max(4, round(per_minute * minutes))
        latents, contexts = [], []
        for step, _ in steps(per_bucket):
            if step * 8 >= wanted:
                break
            scenes = [scene_for(10**9 + seed + i) for i in range(8)]
            seed += 8
            pixels = to_tensor([render(s, side * 8) for s in scenes])
            latents.append(vae.encode(pixels).latent_dist.mean * architecture.SD_SCALING_FACTOR)
            contexts.append(text_encoder(token_ids(tok, [s.caption.text for s in scenes]))[0])
        buckets[side] = (torch.cat(latents), torch.cat(contexts))
        log(f"encoded {len(buckets[side][0])} pictures at {side * 8} px")
    return buckets


def train_unet(unet, empty_context: torch.Tensor, buckets, budget: Budget,
               rng: random.Random, log):
    """Returns the EMA copy of the UNet."""
    scheduler = architecture.scheduler()
    alphas = scheduler.alphas_cumprod
    optimiser = torch.optim.AdamW(unet.parameters(), lr=1e-3, weight_decay=1e-2)
    ema = copy.deepcopy(unet).eval()
    sides = list(BUCKETS)
    weights = [BUCKETS[s][2] for s in sides]
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    unet.train()
    for step, done in steps(budget):
        for group in optimiser.param_groups:
            group["lr"] = cosine(1e-3, done)
        side = rng.choices(sides, weights)[0]
        latents, contexts = buckets[side]
        batch = BUCKETS[side][1]
        index = torch.randint(len(latents), (batch,), generator=generator)
        x0, context = latents[index], contexts[index]
        drop = torch.rand(batch, generator=generator) < UNCONDITIONAL_RATE
        context = torch.where(drop.view(-1, 1, 1), empty_context, context)
        t = (1000 * torch.rand(batch, generator=generator).sqrt()).long().clamp(max=999)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        weight = ((1 - a) / a).clamp(1.0, X0_WEIGHT_MAX)
        loss = (weight * (unet(noisy, t, context).sample - noise) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, live in zip(ema.parameters(), unet.parameters(), strict=True):
                averaged.lerp_(live, 1 - decay)
        if step % 50 == 0:
            log(f"unet step {step} side {side} done {done:.2f} loss {loss.item():.4f}")
    return ema


def gate(rate: float) -> None:
    if rate < VAE_GATE:
        # A UNet trained on a VAE that cannot give colours back can only draw wrong ones.
        raise SystemExit(
            f"VAE gate failed: decoded ground truth passes {rate:.0%} < {VAE_GATE:.0%}"
        )


def raw_vae(folder: Path | None):
    """A fresh VAE, or the raw one an earlier `--vae-only` run wrote (to go on training)."""
    if folder is None:
        return architecture.vae()
    return AutoencoderKL.from_pretrained(folder, torch_dtype=torch.float32)


def ready_for_sd(vae):
    make_posterior_exact(vae)
    whiten_latents(vae)
    return vae


def train(
    out: Path,
    minutes: float,
    seed: int,
    max_steps: int | None = None,
    log=print,
    *,
    vae_from: Path | None = None,
    vae_only: bool = False,
) -> Path:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    started = time.monotonic()
    budget = Budget(minutes * 60, max_steps)
    vae = raw_vae(vae_from)
    if vae_only:
        # Written raw and whatever its pass rate: a later run can go on training it.
        lr = VAE_LR if vae_from is None else VAE_LR_GOING_ON
        train_vae(vae, budget.share(1.0, VAE_MIN_STEPS), rng, log, lr)
        vae.save_pretrained(out / "vae")
        return out
    if vae_from is None:
        rate = train_vae(vae, budget.share(VAE_SHARE, VAE_MIN_STEPS), rng, log)
    else:
        rate = vae_pass_rate(vae.eval())
        log(f"vae from {vae_from}: decoded ground truth passes the checker {rate:.0%}")
    if max_steps is None:
        gate(rate)
    vae = ready_for_sd(vae)
    unet, text_encoder, tok = (
        architecture.unet(),
        architecture.text_encoder(),
        architecture.tokenizer(),
    )
    # A fixed step count (not a time share): the encoder must be done whatever the load.
    text_steps = min(TEXT_ENCODER_STEPS, max_steps or TEXT_ENCODER_STEPS)
    train_caption_encoder(text_encoder, tok, steps(Budget(math.inf, text_steps)), log)
    buckets = encode_buckets(vae, text_encoder, tok, budget.share(ENCODE_SHARE), minutes, log)
    with torch.no_grad():
        empty_context = text_encoder(token_ids(tok, [""]))[0]
    # The UNet gets whatever is left, so a slow VAE phase cannot push past the budget.
    left = max(0.0, budget.seconds - (time.monotonic() - started))
    unet_budget = Budget(left, max_steps)
    unet = train_unet(unet, empty_context, buckets, unet_budget, rng, log)
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
    export(pipe, out, out / SINGLE_FILE_NAME)
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
    parser.add_argument(
        "--vae-only", action="store_true", help="train only the VAE (on from --vae), into OUT/vae"
    )
    parser.add_argument(
        "--vae", type=Path, default=None, help="start from the VAE of a --vae-only run (OUT/vae)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:7.1f}s] {message}", flush=True)

    train(
        args.out,
        args.minutes,
        args.seed,
        args.max_steps,
        log,
        vae_from=args.vae,
        vae_only=args.vae_only,
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
