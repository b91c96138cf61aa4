"""Generation requests, run as numbered steps like a diffusers pipeline's __call__.

Several compatible txt2img requests (equal `batching.batch_key`) run as one call,
each keeping its own prompts, seeds, batch_size and n_iter; one request is a
batch of one.

1. resolve the sampler, seeds and per-request settings
2. prepare the inputs (init images and mask for img2img / inpainting)
3. for each round (batch j of every request's n_iter batches): noise, the
   denoising loop (with a per-step callback that reports progress and honours
   interrupt / skip), decode, and hand each request its own images; with hires
   fix, the upscale and the second (img2img) pass come between loop and decode;
   a model with a native size draws there and its pictures are resized
   (engine/native_size.py)
4. write the A1111 infotext into every image
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from sdserve import __version__
from sdserve.engine import batching, hires, images, native_size, samplers, seeds
from sdserve.engine.errors import InvalidRequest
from sdserve.engine.hires import LATENT_FACTOR
from sdserve.engine.infotext import NEGATIVE_PROMPT, PROMPT, format_infotext
from sdserve.engine.loading import LoadedModel
from sdserve.engine.preview import latent_preview
from sdserve.engine.types import GenerationRequest, GenerationResult, Progress, ProgressCallback

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
    hires_sampler: tuple[samplers.Sampler, samplers.Schedule] | None = None


def hires_sampler(request: GenerationRequest) -> tuple[samplers.Sampler, samplers.Schedule]:
    """The second pass's sampler (the first pass's unless the request names another);
    raises InvalidRequest naming the hires field at fault."""
    assert request.hires is not None
    hires.check_upscaler(request.hires.upscaler)
    try:
        return samplers.resolve(request.hires.sampler_name or request.sampler_name,
                                request.hires.scheduler or request.scheduler)
    except InvalidRequest as error:
        raise InvalidRequest("hr_" + error.field, error.message) from error


def plan(request: GenerationRequest, random_seed: Callable[[], int]) -> Plan:
    sampler, schedule = samplers.resolve(request.sampler_name, request.scheduler)
    count = request.batch_size * request.n_iter
    first = seeds.resolve_seed(request.seed, random_seed())
    first_sub = seeds.resolve_seed(request.subseed, random_seed())
    clip_skip = int(request.override_settings.get(CLIP_SKIP_SETTING, 1) or 1)
    return Plan(
        sampler, schedule, seeds.image_seeds(first, count), seeds.image_seeds(first_sub, count),
        max(1, clip_skip), hires_sampler(request) if request.hires is not None else None,
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
    if request.hires is not None:
        params.update(_hires_infotext(request.hires, plan_))
    if request.subseed_strength > 0:
        params["Variation seed"] = plan_.subseeds[index]
        params["Variation seed strength"] = f"{request.subseed_strength:g}"
    if plan_.clip_skip > 1:
        params["Clip skip"] = plan_.clip_skip
    params["Version"] = f"sdserve {__version__}"
    return format_infotext(params)


def _hires_infotext(settings: hires.Hires, plan_: Plan) -> dict[str, Any]:
    """The webui's hires fields, in its order."""
    params: dict[str, Any] = {"Denoising strength": f"{settings.denoising_strength:g}"}
    if settings.scale is not None:
        params["Hires upscale"] = f"{settings.scale:g}"
    else:
        params["Hires resize"] = f"{settings.width}x{settings.height}"
    if settings.steps:
        params["Hires steps"] = settings.steps
    params["Hires upscaler"] = settings.upscaler
    assert plan_.hires_sampler is not None
    if plan_.hires_sampler[0] != plan_.sampler:
        params["Hires sampler"] = plan_.hires_sampler[0].name
    if settings.prompt:
        params["Hires prompt"] = settings.prompt
    return params


def _hires_steps(request: GenerationRequest) -> tuple[int, float]:
    """The second pass's num_inference_steps and the strength diffusers gets."""
    assert request.hires is not None
    steps = request.hires.steps or request.steps
    return steps, at_least_one_step(request.hires.denoising_strength, steps)


def sampling_steps(request: GenerationRequest) -> int:
    """Steps the request's denoising takes per batch, both hires passes counted."""
    if request.hires is None:
        return request.steps
    steps, strength = _hires_steps(request)
    return request.steps + int(steps * strength)


class _StepWatch:
    """The per-step callback: progress out, interrupt / skip in."""

    def __init__(self, model: LoadedModel, job_no: int, job_count: int,
                 on_progress: ProgressCallback | None, should_interrupt: Callable[[], bool],
                 should_skip: Callable[[], bool]) -> None:
        self.model, self.job_no, self.job_count = model, job_no, job_count
        self.on_progress, self.should_interrupt, self.should_skip = (
            on_progress, should_interrupt, should_skip)
        self.interrupted = self.skipped = False
        # Across hires fix's two calls progress counts on: steps before this call, and all.
        self.steps_before, self.steps_in_all = 0, None

    @property
    def stopped(self) -> bool:
        return self.interrupted or self.skipped

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if self.on_progress is not None:
            latents = tensors["latents"]
            self.on_progress(Progress(
                job_no=self.job_no, job_count=self.job_count,
                sampling_step=self.steps_before + step + 1,
                sampling_steps=self.steps_in_all or pipe.num_timesteps,
                preview=lambda: latent_preview(latents, self.model.latent_rgb),
            ))
        if self.should_interrupt():
            self.interrupted = True
            pipe._interrupt = True  # diffusers' documented way to stop the loop early
        elif self.should_skip():
            self.skipped = True
            pipe._interrupt = True
        return tensors


@dataclass(frozen=True)
class _Share:
    """One request's images in one round of a shared call."""

    owner: int  # the request's index in the call
    request: GenerationRequest
    plan: Plan
    images: range  # indexes into the request's seeds


def _rounds(requests: Sequence[GenerationRequest], plans: Sequence[Plan]) -> list[list[_Share]]:
    """Round j holds batch j of every request with more than j batches (A1111's n_iter)."""
    count = max(r.n_iter for r in requests)
    return [[_Share(owner, r, p, range(j * r.batch_size, (j + 1) * r.batch_size))
             for owner, (r, p) in enumerate(zip(requests, plans, strict=True)) if j < r.n_iter]
            for j in range(count)]


def drawing_size(request: GenerationRequest, model: LoadedModel) -> tuple[int, int]:
    """The size the request's pictures are drawn at: the asked one, unless the model has
    a native size (hires fix is always drawn as asked)."""
    if model.native_size is None or request.hires is not None:
        return request.width, request.height
    return native_size.drawing_size(request.width, request.height, model.native_size)


def _batch_arguments(shares: list[_Share], model: LoadedModel,
                     size: tuple[int, int]) -> tuple[Any, dict[str, Any]]:
    """Which pipeline runs this round, with which arguments (step 2), drawn at size."""
    first = shares[0].request
    width, height = size
    args: dict[str, Any] = {
        "prompt": [s.request.prompt for s in shares for _ in s.images],
        "negative_prompt": [s.request.negative_prompt for s in shares for _ in s.images],
        "num_inference_steps": first.steps,
        "guidance_scale": first.cfg_scale,
        "width": width,
        "height": height,
        # One CPU generator per image: the same images on any device, alone or shared.
        "generator": [seeds.cpu_generator(s.plan.seeds[i]) for s in shares for i in s.images],
        "clip_skip": shares[0].plan.clip_skip - 1 or None,
    }
    if not first.init_images:
        shape = (LATENT_CHANNELS, height // LATENT_FACTOR, width // LATENT_FACTOR)
        import torch

        noise = [seeds.image_noise(s.plan.seeds[i], s.plan.subseeds[i],
                                   s.request.subseed_strength, shape)
                 for s in shares for i in s.images]
        args["latents"] = torch.stack(noise)
        return model.txt2img, args
    (share,) = shares  # img2img and inpainting never share a call (batching.batch_key)
    request = share.request
    args.update(image=_init_images(share, size),
                strength=at_least_one_step(request.denoising_strength, first.steps))
    if request.mask is None:
        return model.img2img, args
    args["mask_image"] = [_mask(request, size)] * len(share.images)
    return model.inpaint, args


def _init_images(share: _Share, size: tuple[int, int]) -> list[Image.Image]:
    request = share.request
    return [images.prepare_init_image(request.init_images[i % len(request.init_images)],
                                      *size, request.resize_mode)
            for i in share.images]


def at_least_one_step(strength: float, steps: int) -> float:
    """The strength diffusers gets: it runs int(steps * strength) steps and fails with none,
    where A1111 still takes one step at the lowest noise level (strength 0 gives back the
    init image, through the VAE). The floor is the smallest float that gives one step
    (49 * (1 / 49) < 1 in floats)."""
    floor = 1.0 / steps
    while int(steps * floor) < 1:
        floor = math.nextafter(floor, 2.0)
    return max(strength, floor)


def _second_pass(model: LoadedModel, share: _Share, first_args: dict[str, Any],
                 latents: Any, watch: _StepWatch) -> list[Image.Image]:
    """Hires fix after the first pass: upscale, then img2img at the target size with the
    same seeds. A stopped first pass gives its own pictures back."""
    request, settings = share.request, share.request.hires
    assert settings is not None and share.plan.hires_sampler is not None
    first = model.txt2img
    if watch.stopped:
        return _decode(first, latents)
    if settings.is_latent:
        upscaled = hires.upscale_latents(latents, settings)
    else:
        upscaled = hires.upscale_images(_decode(first, latents), settings)
    steps, strength = _hires_steps(request)
    args = {k: first_args[k] for k in ("prompt", "negative_prompt", "guidance_scale",
                                       "clip_skip")}
    count = len(args["prompt"])
    if settings.prompt:
        args["prompt"] = [settings.prompt] * count
    if settings.negative_prompt:
        args["negative_prompt"] = [settings.negative_prompt] * count
    args.update(
        image=upscaled, num_inference_steps=steps, strength=strength,
        generator=[seeds.cpu_generator(share.plan.seeds[i]) for i in share.images],
    )
    pipe = model.img2img
    pipe.scheduler = samplers.make_scheduler(model.scheduler_config, *share.plan.hires_sampler)
    watch.steps_before = request.steps
    return pipe(**args, callback_on_step_end=watch, output_type="pil").images


def _decode(pipe: Any, latents: Any) -> list[Image.Image]:
    """The pipeline's own decode step, for latents a call returned undecoded."""
    import torch

    vae = pipe.vae
    with torch.no_grad():
        pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor,
                            return_dict=False)[0]
    return pipe.image_processor.postprocess(pixels, output_type="pil")


def _mask(request: GenerationRequest, size: tuple[int, int]) -> Image.Image:
    assert request.mask is not None
    return images.prepare_mask(request.mask, *size, request.resize_mode, request.mask_blur,
                               request.inpainting_mask_invert)


def _finish(output: list[Image.Image], shares: list[_Share],
            size: tuple[int, int]) -> list[Image.Image]:
    """The pictures at the asked size; inpainting keeps the original outside its mask."""
    request = shares[0].request
    asked = (request.width, request.height)
    if size != asked:
        output = [picture.resize(asked, Image.Resampling.LANCZOS) for picture in output]
    if request.mask is None:
        return output
    (share,) = shares
    mask = _mask(request, asked)
    return [images.overlay(picture, init, mask)
            for picture, init in zip(output, _init_images(share, asked), strict=True)]


def _check_shareable(requests: Sequence[GenerationRequest]) -> None:
    if not requests:
        raise ValueError("requests: at least one request is needed")
    if len(requests) > 1:
        keys = {batching.batch_key(r) for r in requests}
        if None in keys or len(keys) > 1:
            raise ValueError("requests: these requests cannot share one call "
                             "(see sdserve.engine.batching.batch_key)")


def _result(request: GenerationRequest, plan_: Plan, produced: list[Image.Image],
            model: LoadedModel, interrupted: bool) -> GenerationResult:
    """Step 4: the A1111 infotext in every image, and the response's lists."""
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


def generate_batch(model: LoadedModel, requests: Sequence[GenerationRequest],
                   random_seed: Callable[[], int], on_progress: ProgressCallback | None,
                   should_interrupt: Callable[[], bool],
                   should_skip: Callable[[], bool]) -> list[GenerationResult]:
    """Run requests with equal `batching.batch_key`s (or one request of any kind) as
    shared calls; returns one result per request, in order.

    A round is one diffusers call: batch j of every request. Progress counts rounds.
    Interrupt stops the whole call: every request keeps the images of its finished
    rounds and is marked interrupted. Skip ends the current round for every request.
    """
    _check_shareable(requests)
    # 1. settings and seeds
    plans = [plan(r, random_seed) for r in requests]
    produced: list[list[Image.Image]] = [[] for _ in requests]
    rounds = _rounds(requests, plans)
    size = drawing_size(requests[0], model)  # equal batch keys: equal sizes
    interrupted = False
    for job_no, shares in enumerate(rounds):
        if should_interrupt():
            interrupted = True
            break
        # 2. inputs for this round
        pipe, args = _batch_arguments(shares, model, size)
        pipe.scheduler = samplers.make_scheduler(model.scheduler_config, plans[0].sampler,
                                                 plans[0].schedule)
        if on_progress is not None:
            on_progress(Progress(job_no, len(rounds), 0, sampling_steps(requests[0])))
        watch = _StepWatch(model, job_no, len(rounds), on_progress, should_interrupt,
                           should_skip)
        # 3. the denoising loop and decode (hires fix: upscale and a second pass first)
        if requests[0].hires is None:
            output = pipe(**args, callback_on_step_end=watch, output_type="pil").images
        else:  # hires requests run alone (batching.batch_key)
            watch.steps_in_all = sampling_steps(requests[0])
            latents = pipe(**args, callback_on_step_end=watch, output_type="latent").images
            output = _second_pass(model, shares[0], args, latents, watch)
        output = _finish(output, shares, size)
        start = 0
        for share in shares:  # each request gets back exactly its own images
            produced[share.owner].extend(output[start:start + len(share.images)])
            start += len(share.images)
        if watch.interrupted:
            interrupted = True
            break
    # 4. infotext
    return [_result(r, p, imgs, model, interrupted)
            for r, p, imgs in zip(requests, plans, produced, strict=True)]
