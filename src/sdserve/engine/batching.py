"""Which requests may share one diffusers call, and what keeps a shared call exact.

Requests share a call when everything the denoising loop applies to the whole
batch is equal: size, steps, sampler and schedule, CFG scale and the settings
(CLIP skip among them). Prompts, negative prompts, seeds and batch sizes stay
per request: each image has its own noise and its own CPU generator, so an image
made in a shared call is the image its request makes alone, provided every layer
computes one image's rows independently of how many other rows there are.

Measured on this project's CPU (torch 2.13 CPU build, MKL + oneDNN 3.12):
- bf16 (oneDNN, AMX): close, not exact: on the shipped tiny model a shared call's
  images stay above 30 dB PSNR of the lone ones (as close as bf16 is to fp32);
- fp32: MKL's sgemm picks a different kernel for small M, so a Linear's row differs
  in the last bit between M=1..15 and M=16 (320x1280 weights); MKL's strict
  conditional numerical reproducibility (`MKL_CBWR=AUTO,STRICT`, read once, before
  MKL's first call) makes every M give the same rows. oneDNN's fp32 convolution
  still differs at batch 1 against batch >= 2, so a call whose UNet batch could be
  1 (no classifier-free guidance, CFG scale <= 1) is never shared, and the VAE
  decodes one image at a time (engine/loading.py). That makes shared fp32 calls
  bit-identical to lone ones here, not on every CPU: on one CI machine (kernels
  chosen by CPU as well as batch size) pictures differed by fp32 rounding.
Only txt2img without hires fix is shared; img2img, inpainting and hires fix run alone.
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping

from sdserve.engine import samplers
from sdserve.engine.types import GenerationRequest

MKL_REPRODUCIBILITY_ENV = "MKL_CBWR"
# AUTO: the best code path this CPU has; STRICT: results independent of the matrix's M.
MKL_BATCH_INVARIANT = "AUTO,STRICT"


def batch_invariant_environment(env: MutableMapping[str, str]) -> None:
    """Ask MKL for batch-invariant fp32 GEMMs, unless the operator chose a setting.

    Must run before the process's first MKL call (MKL reads it once).
    """
    env.setdefault(MKL_REPRODUCIBILITY_ENV, MKL_BATCH_INVARIANT)


def batch_key(request: GenerationRequest) -> Hashable | None:
    """Requests with equal keys may run as one call; None: this request runs alone."""
    if request.init_images or request.mask is not None or request.hires is not None:
        return None
    if request.subseed_strength > 0 or request.cfg_scale <= 1:
        return None
    sampler, schedule = samplers.resolve(request.sampler_name, request.scheduler)
    settings = tuple(sorted((k, repr(v)) for k, v in request.override_settings.items()))
    return (sampler.name, schedule.name, request.width, request.height, request.steps,
            request.cfg_scale, settings)
