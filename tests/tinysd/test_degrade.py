"""The damage the VAE's decoder learns to undraw: warp, blur and noise of true latents."""

import torch

from sdserve.tinysd.degrade import degrade


def latents(batch: int = 4, side: int = 16) -> torch.Tensor:
    """A square of ones on zeros in every channel: an object with an outline."""
    z = torch.zeros(batch, 4, side, side)
    z[:, :, side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 1.0
    return z


def test_strength_zero_leaves_latents_as_they_are():
    z = latents()
    out = degrade(z, torch.zeros(len(z)), torch.Generator().manual_seed(0))
    assert torch.allclose(out, z, atol=1e-5)


def test_damage_grows_with_strength_and_spares_the_inside():
    z = latents(batch=3)
    out = degrade(z, torch.tensor([0.0, 0.3, 1.0]), torch.Generator().manual_seed(0))
    errors = (out - z).abs().mean(dim=(1, 2, 3))
    assert errors[0] < 1e-5 < errors[1] < errors[2]
    # The object stays where it was, only its outline moves: the centre keeps its value.
    assert (out[:, :, 7:9, 7:9] - 1).abs().max() < 0.5


def test_each_picture_gets_its_own_damage_and_a_seed_repeats_it():
    z = latents(batch=2)
    strength = torch.ones(2)
    a = degrade(z, strength, torch.Generator().manual_seed(1))
    b = degrade(z, strength, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])


def test_a_one_pixel_latent_survives():
    """64 px crops encode to 8x8 latents, whole 64 px pictures too; nothing may assume more."""
    z = torch.ones(2, 4, 1, 1)
    out = degrade(z, torch.ones(2), torch.Generator().manual_seed(0))
    assert out.shape == z.shape and torch.isfinite(out).all()
