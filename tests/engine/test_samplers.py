import pytest

from sdserve.engine import InvalidRequest
from sdserve.engine.samplers import SAMPLERS, make_scheduler, resolve, sampler_entries

BASE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "steps_offset": 1}


@pytest.mark.parametrize(
    ("name", "scheduler", "sampler", "schedule"),
    [
        ("Euler a", "Automatic", "Euler a", "automatic"),
        ("DPM++ 2M", "Automatic", "DPM++ 2M", "karras"),
        ("DPM++ 2M Karras", "Automatic", "DPM++ 2M", "karras"),
        ("Euler Exponential", "Automatic", "Euler", "exponential"),
        ("Euler", "karras", "Euler", "karras"),
        ("k_euler_a", "Uniform", "Euler a", "uniform"),
    ],
)
def test_resolve(name, scheduler, sampler, schedule):
    got_sampler, got_schedule = resolve(name, scheduler)
    assert (got_sampler.name, got_schedule.name) == (sampler, schedule)


def test_unknown_sampler_lists_valid_names():
    with pytest.raises(InvalidRequest) as info:
        resolve("Nope", "Automatic")
    assert info.value.field == "sampler_name"
    assert "Euler a" in str(info.value) and "DPM++ 2M" in str(info.value)


def test_unknown_scheduler_names_field():
    with pytest.raises(InvalidRequest) as info:
        resolve("Euler", "Sideways")
    assert info.value.field == "scheduler"


def test_karras_sets_karras_sigmas_where_supported():
    sampler, schedule = resolve("DPM++ 2M Karras")
    assert make_scheduler(BASE, sampler, schedule).config.use_karras_sigmas
    ddim, karras = resolve("DDIM", "Karras")  # DDIM has no Karras sigmas: ignored
    assert type(make_scheduler(BASE, ddim, karras)).__name__ == "DDIMScheduler"


def test_entries_list_every_sampler():
    assert [e["name"] for e in sampler_entries()] == [s.name for s in SAMPLERS]


@pytest.mark.parametrize("name", ["DDIM", "PLMS", "LCM"])
def test_a_silent_config_gets_sds_values_not_the_class_defaults(name):
    """BASE says nothing of clipping, as the shipped tiny and SDXL configs do not:
    DDIMScheduler's own default would clip every x0 estimate to [-1, 1]."""
    sampler, schedule = resolve(name)
    config = make_scheduler(BASE, sampler, schedule).config
    assert not config.get("clip_sample", False)
    assert not config.get("set_alpha_to_one", False)


def test_a_config_that_speaks_wins():
    sampler, schedule = resolve("DDIM")
    assert make_scheduler({**BASE, "clip_sample": True}, sampler, schedule).config.clip_sample
