"""Latents as a small UNet draws them: true latents, warped, blurred and noised.

The UNet puts an object's colour and shape code where the caption asks, but its
outlines wobble and blur: an hour of CPU training is far too little to draw a
square's straight edges and sharp corners in latent space. So the VAE's decoder
also learns to draw the true picture from latents damaged this way, and with
the shape code in the latent it learns to draw the shape the code names, clean,
from a blob of roughly the right extent. (Decoders trained on the degraded
latents they will meet are common practice for cascaded and latent diffusion.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WARP = 0.7  # latent pixels of displacement at strength 1
WARP_GRID = 3  # the displacement field is this coarse (per side), so outlines wobble
BLUR = 1.0  # latent pixels: the Gaussian's sigma at strength 1
NOISE = 0.15  # of each latent channel's spread, at strength 1
_TAPS = 2  # the blur kernel reaches this many latent pixels each way


def degrade(latents: torch.Tensor, strength: torch.Tensor,
            generator: torch.Generator) -> torch.Tensor:
    """Damage each latent of the batch by its strength in [0, 1] (0 leaves it as it is)."""
    scale = strength.view(-1, 1, 1, 1)
    return _noise(_blur(_warp(latents, scale, generator), strength), scale, generator)


def _warp(latents: torch.Tensor, scale: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = latents.shape
    coarse = torch.randn(n, 2, WARP_GRID, WARP_GRID, generator=generator)
    flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True) * WARP * scale
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    # grid_sample's coordinates span [-1, 1]: one latent pixel is 2 / (side - 1) of them
    per_pixel = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)])
    grid = torch.stack([xs, ys], -1)[None] + flow.permute(0, 2, 3, 1) * per_pixel
    return F.grid_sample(latents, grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


def _blur(latents: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    n, channels, h, w = latents.shape
    sigma = (strength * BLUR).clamp(min=1e-3)  # a vanishing sigma is the identity kernel
    taps = torch.arange(-_TAPS, _TAPS + 1, dtype=latents.dtype)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)
    size = 2 * _TAPS + 1
    flat = F.pad(latents.reshape(1, n * channels, h, w), (_TAPS,) * 4, mode="replicate")
    flat = F.conv2d(flat, kernel.view(-1, 1, size, 1), groups=n * channels)
    flat = F.conv2d(flat, kernel.view(-1, 1, 1, size), groups=n * channels)
    return flat.view(n, channels, h, w)


def _noise(latents: torch.Tensor, scale: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    spread = latents.detach().std(dim=(0, 2, 3), keepdim=True)
    return latents + scale * NOISE * spread * torch.randn(latents.shape, generator=generator)
