"""The shapes model's VAE: trained from scratch, then made ready for Stable Diffusion.

Its latents are built for a small UNet to draw: channels 0-2 carry each 8x8 cell's
colour and channel 3 the shape of the object there (SHAPE_CODES), each a value held
over an object's area, and its decoder draws the true picture from damaged latents
(see degrade) and, last, from the latents the trained UNet itself draws
(`fine_tune_decoder`): so a wobbly blob with a square's code comes out a square.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionImg2ImgPipeline
from PIL import Image

from sdserve.tinysd import architecture
from sdserve.tinysd.budget import Budget, cosine, steps
from sdserve.tinysd.checker import check
from sdserve.tinysd.dataset import Placed, render, render_shapes, scene_for
from sdserve.tinysd.degrade import degrade

# Under a busy CPU the VAE's time share can pass in a few steps; colours need this many.
VAE_MIN_STEPS = 300
# Whole 64 px pictures and 64 px crops of larger ones: a crop must usually hold both an
# object and background, since the decoder's norms see one crop at a time.
VAE_CROP = 64
VAE_RENDER_SIZES = (64, 64, 64, 96, 128, 256, 512)
VAE_CROP_REACH = 1.3  # crops are centred up to this many object radii from its centre
# Whole pictures at these sizes, each on this share of steps. The decoder's norms see the
# whole picture at once: trained on crops alone, it drew a 512 px object's inside grey.
VAE_WHOLE = {256: 0.05, 512: 0.05}
# Latent channel 3 carries each object's shape as a code (background 0, then SHAPES'
# order: circle, square, triangle), as channels 0-2 carry its colour: a value held over
# the object's area, which the UNet gets right as it gets colours right, and which the
# decoder reads to draw the shape clean from a wobbly outline (see degrade).
SHAPE_CODES = torch.tensor([0.0, -1.0, 1.0, 2.0])
VAE_DAMAGED_RATE = 0.5  # of the pictures a step decodes through degrade()
# The UNet's outlines wobble by a share of an object's size, so smaller pictures are
# damaged less: full strength from this size up, a 64 px picture's a quarter of it. At
# full strength the 3-latent-pixel objects of 64 px pictures lost their shape, and the
# decoder learnt to draw every small object as a blob, even from its true latents.
FULL_DAMAGE_SIZE = 256
VAE_LR = 2e-3
VAE_LR_GOING_ON = 5e-4  # a trained VAE is fine-tuned, not shaken up again
VAE_BATCH = 8  # more, smaller steps learn colour sooner than fewer big ones
# The gate: decoded ground truth (held-out scenes) must pass the checker this often.
VAE_GATE = 0.95
VAE_GATE_PICTURES = 100
# At 64 px the 8x8 latent grid rounds a square's corners: a x8 VAE passes only ~87 % of
# 64 px pictures there (shape; colour 98 %), so the gate judges the sizes it can resolve.
VAE_GATE_SIZES = (128, 256)
VAE_GATE_SEED = 2 * 10**9
# At 0.1 the gate reached 2 % by step 700, at 1.0 20 % (67 % by 1200; 86 % by 3700, held).
VAE_ANCHOR_WEIGHT = 1.0
EXACT_LOG_VARIANCE = -30.0  # the floor diffusers clamps a posterior's log-variance to
# The decoder's last lesson: the trained UNet's own latents. img2img of held-out ground
# truth at these strengths keeps its layout, so the drawn latent lines up with the true
# picture; half the decoder's steps still decode damaged ground truth, so it keeps
# drawing every size and colour as before.
OWN_STRENGTHS = (0.25, 0.7)
OWN_SAMPLING_STEPS = 10
OWN_SIZES = (64, 128, 256, 256, 512)
OWN_GUIDANCE = 7.0  # A1111's default CFG, which the served model mostly runs at
OWN_SEED = 5 * 10**8
OWN_DRAWING_SHARE = 0.5  # of the decoder phase, drawing the pairs; the rest trains on them
DECODER_LR = 5e-4


def to_tensor(images: list) -> torch.Tensor:
    array = np.stack([np.asarray(i, dtype=np.float32) for i in images]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def reconstruction_loss(decoded: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    pixel = F.mse_loss(decoded, pixels) + 0.5 * F.l1_loss(decoded, pixels)
    # Flat colour over 8x8 cells: the checker names colours, so they must come back exact.
    return pixel + F.mse_loss(F.avg_pool2d(decoded, 8), F.avg_pool2d(pixels, 8))


class VaeBatch(NamedTuple):
    pixels: torch.Tensor  # (N, 3, H, W), in [-1, 1]
    codes: torch.Tensor  # (N, 1, H, W): each pixel's SHAPE_CODES value
    sizes: torch.Tensor  # (N,): the side of the picture each was drawn at (a crop's whole)


def vae_batch(rng: random.Random, batch: int) -> VaeBatch:
    """Usually `batch` 64 px crops of pictures drawn at several sizes; on VAE_WHOLE's
    share of steps one whole picture."""
    pick = rng.random()
    for size, rate in VAE_WHOLE.items():
        if pick < rate:
            scene = scene_for(rng.randrange(2**31))
            return VaeBatch(to_tensor([render(scene, size)]),
                            shape_codes([render_shapes(scene, size)]), torch.tensor([size]))
        pick -= rate
    pictures, shapes, sizes = [], [], []
    for _ in range(batch):
        size = rng.choice(VAE_RENDER_SIZES)
        scene = scene_for(rng.randrange(2**31))
        x, y = _crop_corner(rng, rng.choice(scene.objects), size)
        pictures.append(render(scene, size).crop((x, y, x + VAE_CROP, y + VAE_CROP)))
        shapes.append(render_shapes(scene, size)[y : y + VAE_CROP, x : x + VAE_CROP])
        sizes.append(size)
    return VaeBatch(to_tensor(pictures), shape_codes(shapes), torch.tensor(sizes))


def _crop_corner(rng: random.Random, thing: Placed, size: int) -> tuple[int, int]:
    """A crop around the object, from its centre to just past its outline.

    Near an object because backgrounds are grey, black or white: crops taken anywhere
    are mostly background, and the VAE then learns brightness before colour. Out to
    the outline because a large object's inside alone says nothing of its shape.
    """
    angle = rng.uniform(0, 2 * math.pi)
    reach = rng.uniform(0, VAE_CROP_REACH) * thing.r * size
    x = round(thing.cx * size + reach * math.cos(angle)) - VAE_CROP // 2
    y = round(thing.cy * size + reach * math.sin(angle)) - VAE_CROP // 2
    return min(max(x, 0), size - VAE_CROP), min(max(y, 0), size - VAE_CROP)


def shape_codes(shapes: list[np.ndarray]) -> torch.Tensor:
    """render_shapes maps as SHAPE_CODES' values, (N, 1, H, W)."""
    return SHAPE_CODES[torch.from_numpy(np.stack(shapes)).long()][:, None]


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


def sometimes_damaged(latent: torch.Tensor, sizes: torch.Tensor,
                      generator: torch.Generator) -> torch.Tensor:
    """VAE_DAMAGED_RATE of the batch through degrade(), each at a random strength up to
    its picture's ceiling (see FULL_DAMAGE_SIZE)."""
    count = len(latent)
    damaged = torch.rand(count, generator=generator) < VAE_DAMAGED_RATE
    ceiling = (sizes / FULL_DAMAGE_SIZE).clamp(max=1.0)
    strength = torch.rand(count, generator=generator) * damaged * ceiling
    return degrade(latent, strength, generator)


def train_vae(vae, budget: Budget, rng: random.Random, log, lr: float = VAE_LR) -> float:
    """Train for the budget; returns the share of held-out ground truth that passes the
    checker after a round trip (the gate)."""
    optimiser = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0, fused=True)
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    vae.train()
    for step, done in steps(budget):
        for group in optimiser.param_groups:
            group["lr"] = cosine(lr, done)
        pixels, codes, sizes = vae_batch(rng, VAE_BATCH)
        # Decoding the mean (a plain autoencoder) learns far faster than decoding samples,
        # whose noise starts as large as the signal; the posterior is made exact afterwards.
        latent = vae.encode(pixels).latent_dist.mean
        decoded = vae.decode(sometimes_damaged(latent, sizes, generator)).sample
        recon = reconstruction_loss(decoded, pixels)
        cells = F.avg_pool2d(pixels, 8)
        # Three latent channels carry each cell's colour outright (as SD's latents nearly
        # do): it gives the encoder a direct signal and the UNet a colour it can read.
        # Anchoring fades out: it teaches colour early, then frees the channels for edges.
        anchor = F.mse_loss(latent[:, :3], cells)
        shape = F.mse_loss(latent[:, 3:], F.avg_pool2d(codes, 8))
        loss = recon + VAE_ANCHOR_WEIGHT * (1 - done) * anchor + shape
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 100 == 0:
            losses = f"recon {recon.item():.4f} shape {shape.item():.4f}"
            log(f"vae step {step} done {done:.2f} {losses}")
    vae.eval()
    rate = vae_pass_rate(vae)
    log(f"vae: decoded ground truth passes the checker {rate:.0%}")
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


@torch.no_grad()
def own_latents(pipe, budget: Budget, rng: random.Random) -> list[tuple[torch.Tensor, ...]]:
    """(latent the UNet drew, the true picture) pairs, as many as the budget allows.

    The latents are unscaled, as the decoder takes them.
    """
    img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    pairs = []
    for step, _ in steps(Budget(budget.seconds, budget.max_steps, min_steps=1)):
        size = rng.choice(OWN_SIZES)
        scene = scene_for(OWN_SEED + step)
        picture = render(scene, size)
        latent = img2img(
            scene.caption.text, image=picture, strength=rng.uniform(*OWN_STRENGTHS),
            num_inference_steps=OWN_SAMPLING_STEPS, guidance_scale=OWN_GUIDANCE,
            output_type="latent", generator=torch.Generator().manual_seed(step),
        ).images
        pairs.append((latent / pipe.vae.config.scaling_factor, to_tensor([picture])))
    return pairs


def fine_tune_decoder(pipe, budget: Budget, rng: random.Random, log) -> None:
    """Teach pipe's decoder to draw the true picture from the UNet's own latents.

    The encoder stays as it is, so the latents the UNet learnt are unchanged.
    """
    vae = pipe.vae
    pairs = own_latents(pipe, budget.share(OWN_DRAWING_SHARE), rng)
    log(f"decoder: {len(pairs)} latents drawn by the UNet")
    trained = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    optimiser = torch.optim.AdamW(trained, lr=DECODER_LR, weight_decay=0.0, fused=True)
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    vae.train()
    for step, done in steps(budget.share(1 - OWN_DRAWING_SHARE)):
        for group in optimiser.param_groups:
            group["lr"] = cosine(DECODER_LR, done)
        if step % 2 == 0:
            latent, pixels = rng.choice(pairs)
        else:
            pixels, _, sizes = vae_batch(rng, VAE_BATCH)
            with torch.no_grad():
                latent = sometimes_damaged(vae.encode(pixels).latent_dist.mean, sizes, generator)
        loss = reconstruction_loss(vae.decode(latent).sample, pixels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 100 == 0:
            log(f"decoder step {step} done {done:.2f} loss {loss.item():.4f}")
    vae.eval()
