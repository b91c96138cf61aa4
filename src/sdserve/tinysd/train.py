"""Train the shapes model from scratch on the CPU: `python -m sdserve.tinysd.train --out DIR`.

It ships as the default model, `tiny` (src/sdserve/models/tiny: how it was made is in
src/sdserve/models/README.md).

Five phases share one time budget (`--minutes`):
1. the VAE (vae_training), on crops and whole pictures drawn at several sizes, its
   latents carrying each object's colour and shape code, its decoder also drawing
   from damaged latents;
2. the text encoder, to name each caption's parts from its pad tokens, then frozen
   (see caption_encoder: without it the UNet learns to ignore the caption);
3. pre-encoding captioned pictures at 64, 128, 256 and 512 px into latents, once;
4. the UNet on those latents, every step one size, so the model learns to draw one
   coherent picture at each size (not a tiled pattern);
5. the decoder again, on latents the trained UNet drew (vae_training.fine_tune_decoder).
Seeds are fixed; with `--max-steps` a run is reproducible regardless of speed.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from sdserve.tinysd import architecture
from sdserve.tinysd.budget import Budget, cosine, steps
from sdserve.tinysd.caption_encoder import token_ids, train_caption_encoder
from sdserve.tinysd.dataset import render, scene_for
from sdserve.tinysd.export import SINGLE_FILE_NAME, export
from sdserve.tinysd.vae_training import (
    VAE_LR,
    VAE_LR_GOING_ON,
    VAE_MIN_STEPS,
    fine_tune_decoder,
    gate,
    raw_vae,
    ready_for_sd,
    to_tensor,
    train_vae,
    vae_pass_rate,
)

VAE_SHARE = 0.17  # of the budget
ENCODE_SHARE = 0.1
DECODER_SHARE = 0.08
# latent side -> (pictures pre-encoded per budget minute, batch size, chance a step uses it)
# A step costs ~60 ms of overhead on one core whatever its batch (a small UNet of many
# small modules), so the large sides take batches of several pictures too. Most steps
# go to the sizes that are hard to draw whole: 256 and 512 px (one object, not several).
BUCKETS = {8: (400, 32, 0.25), 16: (100, 16, 0.1), 32: (40, 8, 0.3), 64: (25, 2, 0.35)}
TEXT_ENCODER_STEPS = 600  # its parts loss is ~0.03 by then (0.2 s a step)
# Sampling starts at t=999, where x0 = (x - sqrt(1-a) eps) / sqrt(a) magnifies an eps
# error 15-fold: a barely biased eps there drew every picture blue. So high t is drawn
# more often (t = 1000 sqrt(u)) and each eps error weighs as its x0 error, (1-a)/a,
# clamped to [1, X0_WEIGHT_MAX] so low t still counts and t=999 cannot dominate.
X0_WEIGHT_MAX = 20.0
UNCONDITIONAL_RATE = 0.1  # captions dropped, so classifier-free guidance works
EMA_DECAY = 0.999


@torch.no_grad()
def encode_buckets(vae, text_encoder, tok, budget: Budget, minutes: float,
                   log) -> dict[int, tuple]:
    """Per latent side: (scaled latents, caption contexts) of freshly drawn pictures.

    The text encoder is frozen by now, so each caption is encoded once, here.
    """
    buckets = {}
    seed = 0
    # Each bucket's time share is its part of the expected cost, so a slow machine
    # shortens every bucket alike.
    costs = {side: per_minute * side**2 for side, (per_minute, _, _) in BUCKETS.items()}
    for side, (per_minute, _, _) in BUCKETS.items():
        wanted = max(4, round(per_minute * minutes))
        latents, contexts = [], []
        for step, _ in steps(budget.share(costs[side] / sum(costs.values()))):
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
    # fused: the per-parameter loops of the default AdamW cost as much as a small step
    optimiser = torch.optim.AdamW(unet.parameters(), lr=1e-3, weight_decay=1e-2, fused=True)
    ema = copy.deepcopy(unet).eval()
    averaged, live = list(ema.parameters()), list(unet.parameters())
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
            torch._foreach_lerp_(averaged, live, 1 - decay)
        if step % 50 == 0:
            log(f"unet step {step} side {side} done {done:.2f} loss {loss.item():.4f}")
    return ema


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
    # The UNet gets whatever is left but the decoder's share, so a slow VAE phase cannot
    # push past the budget.
    decoder_budget = budget.share(DECODER_SHARE)
    left = budget.seconds - (time.monotonic() - started) - decoder_budget.seconds
    unet = train_unet(unet, empty_context, buckets, Budget(max(0.0, left), max_steps), rng, log)
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
    fine_tune_decoder(pipe, decoder_budget, rng, log)
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
