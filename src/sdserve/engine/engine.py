"""The Engine: one loaded model at a time, generating on request. No HTTP here."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from sdserve.engine import generation, loading, precision, samplers, sources
from sdserve.engine.errors import InvalidRequest
from sdserve.engine.memory import memory as memory_figures
from sdserve.engine.seeds import SEED_RANGE
from sdserve.engine.types import GenerationRequest, GenerationResult, ModelInfo, ProgressCallback

CHECKPOINT_SETTING = "sd_model_checkpoint"


def _never() -> bool:
    return False


class Engine:
    """`dtype`: auto, float32, bfloat16 or float16 for every part (default: $SDSERVE_DTYPE
    and $SDSERVE_VAE_DTYPE, else auto);
    `threads`: torch's intra-op threads (default: torch's own choice); `fast_load`: False
    loads single files through diffusers' from_single_file (for comparisons);
    `native_size`: False draws every picture at the asked size, also for models that
    declare a native size (engine/native_size.py; for measuring them)."""

    def __init__(self, *, device: str = "cpu", models_dir: str | Path | None = None,
                 dtype: str | None = None, threads: int | None = None,
                 fast_load: bool = True, native_size: bool = True) -> None:
        self.device = str(torch.device(device))
        # A bad value raises ValueError naming SDSERVE_DTYPE. An explicit dtype sets the VAE's too.
        self.precision = (precision.from_environment(self.device, os.environ) if dtype is None
                          else precision.choose(dtype, self.device, precision.read_cpu_flags(),
                                                dtype))
        if threads is not None:
            torch.set_num_threads(threads)
        self.fast_load = fast_load
        self.native_size = native_size
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self._hasher = sources.HASHER
        self._known: list[sources.Source] = []
        self._model: loading.LoadedModel | None = None
        self._random = random.Random()
        self.refresh()

    # -- models -----------------------------------------------------------------
    def refresh(self) -> None:
        self._known = sources.shipped(self._hasher) + sources.scan(self.models_dir, self._hasher)

    def list_models(self) -> list[ModelInfo]:
        infos = [s.info for s in self._known]
        if self._model is not None and self._model.info not in infos:
            infos.append(self._model.info)
        return infos

    @property
    def current(self) -> ModelInfo | None:
        return self._model.info if self._model is not None else None

    def load(self, model: str) -> ModelInfo:
        source = sources.find(model, self._known, self._hasher)
        if self._model is not None and self._model.info == source.info:
            return source.info
        # Drop the old weights first: two full models may not fit in memory together.
        self._model = None
        self._model = loading.load(source, self.device, self.precision, self.fast_load,
                                   self.native_size)
        return source.info

    # -- vocabulary ---------------------------------------------------------------
    def samplers(self) -> list[dict]:
        return samplers.sampler_entries()

    def schedulers(self) -> list[dict]:
        return samplers.schedule_entries()

    def memory(self) -> dict:
        return memory_figures(self.device)

    # -- generation -----------------------------------------------------------------
    def validate(self, request: GenerationRequest) -> None:
        samplers.resolve(request.sampler_name, request.scheduler)
        if request.hires is not None:
            generation.hires_sampler(request)
        if request.init_images and request.subseed_strength > 0:
            # diffusers' img2img draws its own starting noise: there is no way to hand it
            # the variation noise, and ignoring it would write a false infotext.
            raise InvalidRequest("subseed_strength",
                                 "variation seeds work with txt2img only; send 0 for img2img")
        for index, image in enumerate(request.init_images):
            try:
                image.load()
            except Exception as error:
                raise InvalidRequest(f"init_images[{index}]", f"cannot decode: {error}") from error
        if request.mask is not None:
            try:
                request.mask.load()
            except Exception as error:
                raise InvalidRequest("mask", f"cannot decode: {error}") from error
        checkpoint = request.override_settings.get(CHECKPOINT_SETTING)
        if checkpoint is not None and not isinstance(checkpoint, str):
            raise InvalidRequest(f"override_settings.{CHECKPOINT_SETTING}", "must be a string")

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback | None = None,
        should_interrupt: Callable[[], bool] = _never,
        should_skip: Callable[[], bool] = _never,
    ) -> GenerationResult:
        (result,) = self.generate_batch([request], on_progress=on_progress,
                                        should_interrupt=should_interrupt,
                                        should_skip=should_skip)
        return result

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        should_interrupt: Callable[[], bool] = _never,
        should_skip: Callable[[], bool] = _never,
    ) -> list[GenerationResult]:
        """Requests with equal `batching.batch_key`s as one pass; one result per request.

        Each image equals the one its request makes alone (see engine/batching.py for
        the conditions); interrupt and skip act on the whole pass.
        """
        for request in requests:
            self.validate(request)
        previous = self.current
        # Equal batch keys mean equal override_settings, the checkpoint included.
        checkpoint = requests[0].override_settings.get(CHECKPOINT_SETTING) if requests else None
        if checkpoint:
            self.load(checkpoint)
        elif self._model is None:
            self.load(sources.DEFAULT_MODEL)
        assert self._model is not None
        try:
            with torch.inference_mode():
                return generation.generate_batch(
                    self._model, requests, self._random_seed, on_progress, should_interrupt,
                    should_skip,
                )
        finally:
            # override_settings apply to this request only, as A1111's restore-afterwards.
            if checkpoint and previous is not None and previous != self.current:
                self.load(previous.title)

    def _random_seed(self) -> int:
        return self._random.randrange(SEED_RANGE)

