"""A1111 sampler and schedule names -> diffusers schedulers: the one registry table.

A1111 splits a sampling method in two: the sampler ("DPM++ 2M") and the sigma
schedule ("Karras"); older clients send both in one name ("DPM++ 2M Karras").
Each sampler names its diffusers scheduler class and config; each schedule names
the config switches that give its sigmas. "Automatic" takes the sampler's own
default schedule, as the webui does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from sdserve.engine.errors import InvalidRequest


@dataclass(frozen=True)
class Sampler:
    name: str
    aliases: tuple[str, ...]
    scheduler_class: str  # a class in `diffusers`
    config: dict[str, Any] = field(default_factory=dict)
    default_schedule: str | None = None  # A1111's `options.scheduler`


@dataclass(frozen=True)
class Schedule:
    name: str
    label: str
    config: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


SAMPLERS: tuple[Sampler, ...] = (
    Sampler("DPM++ 2M", ("k_dpmpp_2m",), "DPMSolverMultistepScheduler",
            {"algorithm_type": "dpmsolver++"}, "karras"),
    Sampler("DPM++ SDE", ("k_dpmpp_sde",), "DPMSolverSinglestepScheduler",
            {"algorithm_type": "sde-dpmsolver++"}, "karras"),
    Sampler("DPM++ 2M SDE", ("k_dpmpp_2m_sde",), "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++"}, "exponential"),
    Sampler("Euler a", ("k_euler_a", "k_euler_ancestral"), "EulerAncestralDiscreteScheduler"),
    Sampler("Euler", ("k_euler",), "EulerDiscreteScheduler"),
    Sampler("LMS", ("k_lms",), "LMSDiscreteScheduler"),
    Sampler("Heun", ("k_heun",), "HeunDiscreteScheduler"),
    Sampler("DPM2", ("k_dpm_2",), "KDPM2DiscreteScheduler", {}, "karras"),
    Sampler("DPM2 a", ("k_dpm_2_a",), "KDPM2AncestralDiscreteScheduler", {}, "karras"),
    Sampler("DDIM", ("ddim",), "DDIMScheduler"),
    Sampler("PLMS", ("plms",), "PNDMScheduler", {"skip_prk_steps": True}),
    Sampler("UniPC", ("unipc",), "UniPCMultistepScheduler"),
    Sampler("LCM", ("k_lcm",), "LCMScheduler"),
)

AUTOMATIC = "automatic"
SCHEDULES: tuple[Schedule, ...] = (
    Schedule(AUTOMATIC, "Automatic"),
    Schedule("uniform", "Uniform"),
    Schedule("karras", "Karras", {"use_karras_sigmas": True}),
    Schedule("exponential", "Exponential", {"use_exponential_sigmas": True}),
    Schedule("sgm_uniform", "SGM Uniform", {"timestep_spacing": "trailing"}),
    Schedule("simple", "Simple", {"timestep_spacing": "trailing"}),
    Schedule("normal", "Normal", {"timestep_spacing": "linspace"}),
    Schedule("ddim", "DDIM", {"timestep_spacing": "leading"}),
)


def _key(name: str) -> str:
    return name.strip().casefold()


_SAMPLER_BY_NAME = {_key(n): s for s in SAMPLERS for n in (s.name, *s.aliases)}
_SCHEDULE_BY_NAME = {_key(n): s for s in SCHEDULES for n in (s.name, s.label, *s.aliases)}


def _schedule(name: str) -> Schedule:
    schedule = _SCHEDULE_BY_NAME.get(_key(name or AUTOMATIC))
    if schedule is None:
        valid = ", ".join(s.label for s in SCHEDULES)
        raise InvalidRequest("scheduler", f"unknown scheduler {name!r}; valid: {valid}")
    return schedule


def _split_combined(name: str) -> tuple[Sampler, Schedule] | None:
    """"DPM++ 2M Karras" -> (DPM++ 2M, Karras), the webui's pre-1.9 naming."""
    for schedule in SCHEDULES:
        suffix = " " + _key(schedule.label)
        if _key(name).endswith(suffix):
            sampler = _SAMPLER_BY_NAME.get(_key(name)[: -len(suffix)])
            if sampler is not None:
                return sampler, schedule
    return None


def resolve(sampler_name: str, scheduler: str = "Automatic") -> tuple[Sampler, Schedule]:
    """The sampler and the effective schedule of a request; raises InvalidRequest."""
    schedule = _schedule(scheduler)
    sampler = _SAMPLER_BY_NAME.get(_key(sampler_name))
    if sampler is None:
        combined = _split_combined(sampler_name)
        if combined is None:
            valid = ", ".join(s.name for s in SAMPLERS)
            raise InvalidRequest(
                "sampler_name", f"unknown sampler {sampler_name!r}; valid: {valid}"
            )
        sampler, named = combined
        schedule = named if schedule.name == AUTOMATIC else schedule
    if schedule.name == AUTOMATIC and sampler.default_schedule:
        schedule = _SCHEDULE_BY_NAME[sampler.default_schedule]
    return sampler, schedule


# Where a model's scheduler config is silent, Stable Diffusion's values, not the diffusers
# class defaults: DDIMScheduler's own defaults clip each x0 estimate to [-1, 1] (meant for
# pixel-space models), which wrecks SD latents. A1111 never clips. Configs that speak win.
SD_SCHEDULER_DEFAULTS: dict[str, Any] = {"clip_sample": False, "set_alpha_to_one": False}


def make_scheduler(base_config: dict[str, Any], sampler: Sampler, schedule: Schedule) -> Any:
    """A fresh diffusers scheduler for one request, from the model's own noise schedule."""
    import diffusers

    cls = getattr(diffusers, sampler.scheduler_class)
    accepted = inspect.signature(cls.__init__).parameters
    # Schedules only apply where the scheduler supports them (DDIM has no Karras sigmas).
    config = {**SD_SCHEDULER_DEFAULTS, **base_config, **sampler.config, **schedule.config}
    return cls.from_config({k: v for k, v in config.items() if k in accepted})


def sampler_entries() -> list[dict]:
    """/sdapi/v1/samplers."""
    return [
        {
            "name": s.name,
            "aliases": list(s.aliases),
            "options": {"scheduler": s.default_schedule} if s.default_schedule else {},
        }
        for s in SAMPLERS
    ]


def schedule_entries() -> list[dict]:
    """/sdapi/v1/schedulers."""
    return [
        {
            "name": s.name,
            "label": s.label,
            "aliases": list(s.aliases) or None,
            "default_rho": 7.0 if s.name == "karras" else -1,
            "need_inner_model": False,
        }
        for s in SCHEDULES
    ]
