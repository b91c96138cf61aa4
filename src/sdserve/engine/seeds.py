"""A1111 seed arithmetic and the initial noise it selects.

Image i of a request uses seed + i (and subseed + i). The noise of each image
comes from its own CPU generator, so results do not depend on the device.
"""

from __future__ import annotations

import torch

RANDOM = -1
# The webui draws random seeds from [0, 2**32 - 2).
SEED_RANGE = 4294967294


def resolve_seed(seed: int, random_value: int) -> int:
    """-1 (or any negative) means random: the caller passes the random draw in."""
    return random_value if seed < 0 else seed


def image_seeds(first: int, count: int) -> list[int]:
    return [first + i for i in range(count)]


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def _slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a_unit, b_unit = a / a.norm(), b / b.norm()
    dot = (a_unit * b_unit).sum().clamp(-1.0, 1.0)
    if dot.abs() > 0.9995:  # nearly parallel: a straight line is as good and stable
        return (1 - t) * a + t * b
    omega = torch.acos(dot)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def image_noise(
    seed: int, subseed: int, subseed_strength: float, shape: tuple[int, ...]
) -> torch.Tensor:
    """One image's starting noise; a subseed strength > 0 blends towards the subseed's noise."""
    noise = torch.randn(shape, generator=cpu_generator(seed))
    if subseed_strength > 0:
        other = torch.randn(shape, generator=cpu_generator(subseed))
        noise = _slerp(subseed_strength, noise, other)
    return noise
