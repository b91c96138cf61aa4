import torch

from sdserve.engine.seeds import image_noise, image_seeds, resolve_seed


def test_seed_arithmetic():
    assert resolve_seed(-1, 77) == 77
    assert resolve_seed(5, 77) == 5
    assert image_seeds(5, 4) == [5, 6, 7, 8]


def test_noise_depends_only_on_seed():
    a = image_noise(3, 9, 0.0, (4, 8, 8))
    assert torch.equal(a, image_noise(3, 1, 0.0, (4, 8, 8)))
    assert not torch.equal(a, image_noise(4, 9, 0.0, (4, 8, 8)))
    assert not torch.equal(a, image_noise(3, 9, 0.5, (4, 8, 8)))
