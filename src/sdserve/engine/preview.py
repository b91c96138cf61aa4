"""A cheap preview of latents: A1111's "Approx cheap" linear map from 4 latent channels to RGB."""

from __future__ import annotations

import torch
from PIL import Image

# Least-squares fits of each latent channel's contribution to R, G, B (per architecture).
SD1_LATENT_RGB = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)
SDXL_LATENT_RGB = (
    (0.3448, 0.4168, 0.4395),
    (-0.1953, -0.0290, 0.0250),
    (0.1074, 0.0886, -0.0163),
    (-0.3730, -0.2499, -0.2088),
)


def latent_preview(latents: torch.Tensor, factors: tuple[tuple[float, ...], ...]) -> Image.Image:
    """The first image of a (batch, 4, h, w) latent batch, as a small RGB picture."""
    matrix = torch.tensor(factors, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), matrix)
    pixels = ((rgb + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")
