"""A1111 JSON ↔ the engine's vocabulary. Pure: no I/O, no engine calls."""

from __future__ import annotations

from typing import Any

from PIL import Image

from sdserve import __version__
from sdserve.engine import hires
from sdserve.engine.types import GenerationRequest, GenerationResult, ModelInfo
from sdserve.worker.schemas import GenerationBody, Img2ImgBody, Txt2ImgBody

CHECKPOINT_OPTION = "sd_model_checkpoint"
VERSION = f"sdserve {__version__}"


def split_checkpoint(settings: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """The model to switch to (if any) and the remaining settings."""
    rest = dict(settings or {})
    checkpoint = rest.pop(CHECKPOINT_OPTION, None)
    return (str(checkpoint) if checkpoint else None), rest


# The webui's words for "as in the first pass" in hr_sampler_name / hr_scheduler.
SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"


def hires_size(body: Txt2ImgBody) -> tuple[int, int]:
    return hires.target_size(body.width, body.height, body.hr_scale, body.hr_resize_x,
                             body.hr_resize_y)


def hires_settings(body: Txt2ImgBody) -> hires.Hires:
    width, height = hires_size(body)
    strength = body.denoising_strength
    return hires.Hires(
        width=width, height=height,
        scale=None if body.hr_resize_x or body.hr_resize_y else body.hr_scale,
        upscaler=body.hr_upscaler or hires.DEFAULT_UPSCALER,
        steps=body.hr_second_pass_steps,
        denoising_strength=hires.DEFAULT_DENOISING_STRENGTH if strength is None else strength,
        sampler_name=None if body.hr_sampler_name == SAME_SAMPLER else body.hr_sampler_name,
        scheduler=None if body.hr_scheduler == SAME_SCHEDULER else body.hr_scheduler,
        prompt=body.hr_prompt, negative_prompt=body.hr_negative_prompt,
    )


def generation_request(
    body: GenerationBody,
    *,
    settings: dict[str, Any],
    init_images: tuple[Image.Image, ...] = (),
    mask: Image.Image | None = None,
) -> GenerationRequest:
    """`settings`: the worker's options overlaid with the request's override_settings,
    the model checkpoint already taken out."""
    common: dict[str, Any] = {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "seed": body.seed,
        "subseed": body.subseed,
        "subseed_strength": body.subseed_strength,
        "sampler_name": body.effective_sampler,
        "scheduler": body.scheduler,
        "batch_size": body.batch_size,
        "n_iter": body.n_iter,
        "steps": body.steps,
        "cfg_scale": body.cfg_scale,
        "width": body.width,
        "height": body.height,
        "override_settings": settings,
    }
    if isinstance(body, Img2ImgBody):
        common.update(
            init_images=init_images,
            denoising_strength=body.denoising_strength,
            mask=mask,
            mask_blur=body.mask_blur if body.mask_blur is not None else body.mask_blur_x,
            inpainting_mask_invert=bool(body.inpainting_mask_invert),
            resize_mode=body.resize_mode,
        )
    elif isinstance(body, Txt2ImgBody) and body.enable_hr:
        common["hires"] = hires_settings(body)
    return GenerationRequest(**common)


def parameters(body: GenerationBody) -> dict[str, Any]:
    """The request with defaults filled, as the webui echoes it (images left out)."""
    echoed = body.model_dump()
    if isinstance(body, Img2ImgBody) and not body.include_init_images:
        echoed["init_images"] = None
        echoed["mask"] = None
    return echoed


def info_document(
    body: GenerationBody,
    result: GenerationResult,
    model: ModelInfo | None,
    *,
    job_timestamp: str,
) -> dict[str, Any]:
    """The object the webui serialises into the response's `info` string."""
    denoising = body.denoising_strength if isinstance(body, Img2ImgBody) else None
    if isinstance(body, Txt2ImgBody) and body.enable_hr:
        denoising = hires_settings(body).denoising_strength
    return {
        "prompt": result.prompts[0] if result.prompts else body.prompt,
        "all_prompts": result.prompts,
        "negative_prompt": (
            result.negative_prompts[0] if result.negative_prompts else body.negative_prompt
        ),
        "all_negative_prompts": result.negative_prompts,
        "seed": result.seeds[0] if result.seeds else body.seed,
        "all_seeds": result.seeds,
        "subseed": result.subseeds[0] if result.subseeds else body.subseed,
        "all_subseeds": result.subseeds,
        "subseed_strength": body.subseed_strength,
        "width": body.width,
        "height": body.height,
        "sampler_name": body.effective_sampler,
        "cfg_scale": body.cfg_scale,
        "steps": body.steps,
        "batch_size": body.batch_size,
        "restore_faces": body.restore_faces,
        "face_restoration_model": None,
        "sd_model_name": model.model_name if model else None,
        "sd_model_hash": model.hash if model else None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": body.seed_resize_from_w,
        "seed_resize_from_h": body.seed_resize_from_h,
        "denoising_strength": denoising,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": result.infotexts,
        "styles": body.styles or [],
        "job_timestamp": job_timestamp,
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        "interrupted": result.interrupted,
        "version": VERSION,
    }


def model_matches(model: ModelInfo | None, name: str) -> bool:
    """Whether `name` (a title, model name or file name) already names `model`."""
    if model is None:
        return False
    return name in {model.title, model.model_name, model.filename}
