"""Hires fix in the engine: the size rule, both kinds of upscaler, progress across the
two passes, a stopped first pass, and what may not share a call."""

import pytest

from sdserve.engine import Engine, GenerationRequest, InvalidRequest, parse_infotext
from sdserve.engine.batching import batch_key
from sdserve.engine.hires import Hires, target_size

SMALL = {"width": 64, "height": 64, "steps": 4, "prompt": "a red circle on a white background",
         "seed": 3}


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    engine.load("tiny")
    return engine


def hires(**fields) -> Hires:
    return Hires(**{"width": 128, "height": 128, "scale": 2.0, **fields})


@pytest.mark.parametrize(
    ("asked", "size"),
    [
        ((64, 64, 2.0, 0, 0), (128, 128)),
        ((64, 32, 1.5, 0, 0), (96, 48)),
        ((64, 64, 1.3, 0, 0), (80, 80)),  # 83.2 floored to a multiple of 8
        ((64, 32, 2.0, 100, 0), (96, 48)),  # one side given: the aspect ratio kept
        ((64, 32, 2.0, 0, 96), (192, 96)),
        ((64, 32, 2.0, 96, 96), (96, 96)),  # both given: exactly that
    ],
)
def test_target_size(asked, size):
    assert target_size(*asked) == size


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (bicubic antialiased)", "Lanczos"])
def test_output_has_the_hires_size_and_infotext(engine, upscaler):
    result = engine.generate(GenerationRequest(**SMALL, hires=hires(upscaler=upscaler)))
    assert result.images[0].size == (128, 128)
    fields = parse_infotext(result.infotexts[0])
    assert fields["Size"] == "64x64"  # the first pass's, as the webui writes it
    assert fields["Hires upscale"] == "2"
    assert fields["Hires upscaler"] == upscaler
    assert fields["Denoising strength"] == "0.7"


def test_latent_and_image_upscalers_give_different_pictures(engine):
    latent, lanczos = (
        engine.generate(GenerationRequest(**SMALL, hires=hires(upscaler=u))).images[0]
        for u in ("Latent", "Lanczos")
    )
    assert latent.tobytes() != lanczos.tobytes()


def test_progress_counts_both_passes(engine):
    seen = []
    engine.generate(
        GenerationRequest(**SMALL, hires=hires(steps=10, denoising_strength=0.5)),
        on_progress=seen.append,
    )
    steps = [(p.sampling_step, p.sampling_steps) for p in seen]
    assert steps[-1] == (4 + 5, 4 + 5)  # 4 first-pass steps, then int(10 * 0.5)
    assert [s for s, _ in steps] == sorted(s for s, _ in steps)  # never goes back


def test_an_interrupted_first_pass_gives_its_own_picture(engine):
    calls = iter(range(100))
    result = engine.generate(GenerationRequest(**SMALL, hires=hires()),
                             should_interrupt=lambda: next(calls) >= 2)
    assert result.interrupted
    assert result.images[0].size == (64, 64)


def test_a_second_sampler_and_prompt(engine):
    request = GenerationRequest(**SMALL, hires=hires(sampler_name="DDIM", prompt="a blue square"))
    fields = parse_infotext(engine.generate(request).infotexts[0])
    assert fields["Sampler"] == "Euler a"
    assert fields["Hires sampler"] == "DDIM"
    assert fields["Hires prompt"] == "a blue square"


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"upscaler": "ESRGAN_4x"}, "hr_upscaler"), ({"sampler_name": "Nope"}, "hr_sampler_name"),
     ({"scheduler": "Sideways"}, "hr_scheduler")],
)
def test_bad_hires_settings_name_their_field(engine, settings, field):
    with pytest.raises(InvalidRequest) as info:
        engine.validate(GenerationRequest(**SMALL, hires=hires(**settings)))
    assert info.value.field == field


def test_hires_requests_run_alone():
    assert batch_key(GenerationRequest(**SMALL)) is not None
    assert batch_key(GenerationRequest(**SMALL, hires=hires())) is None
