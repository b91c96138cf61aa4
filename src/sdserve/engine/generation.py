"""One generation request, run as numbered steps like a diffusers pipeline's __call__.

1. resolve the sampler, seeds and per-request settings
2. prepare the inputs (init images and mask for img2img / inpainting)
3. for each of the n_iter batches: noise, the denoising loop (with a per-step
   callback that reports progress and honours interrupt / skip), decode
4. write the A1111 infotext into every image
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from sdserve import __version__
from sdserve.engine import images, samplers, seeds
from sdserve.engine.infotext import NEGATIVE_PROMPT, PROMPT, format_infotext
from sdserve.engine.loading import LoadedModel
from sdserve.engine.preview import latent_preview
from sdserve.engine.types import GenerationRequest, GenerationResult, Progress, ProgressCallback

LATENT_FACTOR = 8
LATENT_CHANNELS = 4
CLIP_SKIP_SETTING = "CLIP_stop_at_last_layers"


@dataclass(frozen=True)
class Plan:
    """Everything decided before sampling starts (step 1)."""

    sampler: samplers.Sampler
    schedule: samplers.Schedule
    seeds: list[int]
    subseeds: list[int]
    clip_skip: int  # A1111's value: 1 = the last layer (no skip)


def plan(request: GenerationRequest, random_seed: Callable[[], int]) -> Plan:
    sampler, schedule = samplers.resolve(request.sampler_name, request.scheduler)
    count = request.batch_size * request.n_iter
    first = seeds.resolve_seed(request.seed, random_seed())
    first_sub = seeds.resolve_seed(request.subseed, random_seed())
    clip_skip = int(request.override_settings.get(CLIP_SKIP_SETTING, 1) or 1)
    return Plan(
        sampler, schedule, seeds.image_seeds(first, count), seeds.image_seeds(first_sub, count),
        max(1, clip_skip),
    )


def infotext(request: GenerationRequest, plan_: Plan, index: int, model: LoadedModel) -> str:
    params: dict[str, Any] = {
        PROMPT: request.prompt,
        NEGATIVE_PROMPT: request.negative_prompt,
        "Steps": request.steps,
        "Sampler": plan_.sampler.name,
        "Schedule type": plan_.schedule.label,
        "CFG scale": f"{request.cfg_scale:g}",
        "Seed": plan_.seeds[index],
        "Size": f"{request.width}x{request.height}",
        "Model hash": model.info.hash,
        "Model": model.info.model_name,
    }
    if request.init_images:
        params["Denoising strength"] = f"{request.denoising_strength:g}"
    if request.mask is not None:
        params["Mask blur"] = request.mask_blur
    if request.subseed_strength > 0:
        params["Variation seed"] = plan_.subseeds[index]
        params["Variation seed strength"] = f"{request.subseed_strength:g}"
    if plan_.clip_skip > 1:
        params["Clip skip"] = plan_.clip_skip
    params["Version"] = f"sdserve {__version__}"
    return format_infotext(params)


class _StepWatch:
    """The per-step callback: progress out, interrupt / skip in."""

    def __init__(self, model: LoadedModel, job_no: int, job_count: int,
                 on_progress: ProgressCallback | None, should_interrupt: Callable[[], bool],
                 should_skip: Callable[[], bool]) -> None:
        self.model, self.job_no, self.job_count = model, job_no, job_count
        self.on_progress, self.should_interrupt, self.should_skip = (
            on_progress, should_interrupt, should_skip)
        self.interrupted = False

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if self.on_progress is not None:
            latents = tensors["latents"]
            self.on_progress(Progress(
                job_no=self.job_no, job_count=self.job_count, sampling_step=step + 1,
                sampling_steps=pipe.num_timesteps,
                preview=lambda: latent_preview(latents, self.model.latent_rgb),
            ))
        if self.should_interrupt():
            self.interrupted = True
            pipe._interrupt = True  # diffusers' documented way to stop the loop early
        elif self.should_skip():
            pipe._interrupt = True
        return tensors


def _batch_arguments(request: GenerationRequest, plan_: Plan, model: LoadedModel,
                     batch: range) -> tuple[Any, dict[str, Any]]:
    """Which pipeline runs this batch, with which arguments (step 2)."""
    size = len(batch)
    args: dict[str, Any] = {
        "prompt": [request.prompt] * size,
        "negative_prompt": [request.negative_prompt] * size,
        "num_inference_steps": request.steps,
        "guidance_scale": request.cfg_scale,
        "width": request.width,
        "height": request.height,
        # One CPU generator per image: the same images on any device.
        "generator": [seeds.cpu_generator(plan_.seeds[i]) for i in batch],
        "clip_skip": plan_.clip_skip - 1 or None,
    }
    if not request.init_images:
        shape = (LATENT_CHANNELS, request.height // LATENT_FACTOR, request.width // LATENT_FACTOR)
        import torch

        noise = [seeds.image_noise(plan_.seeds[i], plan_.subseeds[i],
                                   request.subseed_strength, shape) for i in batch]
        args["latents"] = torch.stack(noise)
        return model.txt2img, args
    inits = [images.prepare_init_image(request.init_images[i % len(request.init_images)],
                                       request.width, request.height, request.resize_mode)
             for i in batch]
    args.update(image=inits, strength=request.denoising_strength)
    if request.mask is None:
        return model.img2img, args
    args["mask_image"] = [_mask(request)] * size
    return model.inpaint, args


def _mask(request: GenerationRequest) -> Image.Image:
    assert request.mask is not None
    return images.prepare_mask(request.mask, request.width, request.height,
                               request.resize_mode, request.mask_blur,
                               request.inpainting_mask_invert)


def generate(model: LoadedModel, request: GenerationRequest, random_seed: Callable[[], int],
             on_progress: ProgressCallback | None, should_interrupt: Callable[[], bool],
             should_skip: Callable[[], bool]) -> GenerationResult:
    # 1. settings and seeds
    plan_ = plan(request, random_seed)
    produced: list[Image.Image] = []
    interrupted = False
    for job_no in range(request.n_iter):
        if should_interrupt():
            interrupted = True
            break
        batch = range(job_no * request.batch_size, (job_no + 1) * request.batch_size)
        # 2. inputs for this batch
        pipe, args = _batch_arguments(request, plan_, model, batch)
        pipe.scheduler = samplers.make_scheduler(model.scheduler_config, plan_.sampler,
                                                 plan_.schedule)
        if on_progress is not None:
            on_progress(Progress(job_no, request.n_iter, 0, request.steps))
        watch = _StepWatch(model, job_no, request.n_iter, on_progress, should_interrupt,
                           should_skip)
        # 3. the denoising loop and decode
        output = pipe(**args, callback_on_step_end=watch, output_type="pil").images
        if "mask_image" in args:
            output = [images.overlay(img, init, args["mask_image"][0])
                      for img, init in zip(output, args["image"], strict=True)]
        produced.extend(output)
        if watch.interrupted:
            interrupted = True
            break
    # 4. infotext
    count = len(produced)
    texts = [infotext(request, plan_, i, model) for i in range(count)]
    for image, text in zip(produced, texts, strict=True):
        image.info["parameters"] = text
    return GenerationResult(
        images=produced, seeds=plan_.seeds[:count] or plan_.seeds,
        subseeds=plan_.subseeds[:count] or plan_.subseeds,
        prompts=[request.prompt] * count, negative_prompts=[request.negative_prompt] * count,
        infotexts=texts, interrupted=interrupted,
    )
