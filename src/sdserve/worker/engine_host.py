"""Owns the engine inside the worker: loading, the one-pass-at-a-time lock, the
engine thread, the jobs waiting for it (run in compatible groups) and the running
pass's state.

Every engine call that changes or uses the model (load, generate) runs on one
dedicated thread, in lock order, so the event loop keeps answering progress,
interrupt, skip and /healthz while a generation runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import enum
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from sdserve.engine.batching import batch_invariant_environment, batch_key
from sdserve.engine.types import GenerationRequest, GenerationResult, ModelInfo
from sdserve.worker.batcher import Waiting, next_group
from sdserve.worker.convert import model_matches
from sdserve.worker.job import JobState
from sdserve.worker.metrics import WorkerMetrics
from sdserve.worker.options import DEFAULT_OPTIONS, updated_options
from sdserve.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from sdserve.engine import Engine

log = logging.getLogger("sdserve.worker")
T = TypeVar("T")


class LoadState(str, enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class NotReady(RuntimeError):
    """The first model never loaded; the worker cannot generate."""

    status_code = 503


THREADS_ENV = "SDSERVE_THREADS"  # the runtime's share of the cores for this replica


def threads_from(env: dict[str, str] | os._Environ) -> int | None:
    raw = env.get(THREADS_ENV)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}: {raw!r} is not a positive integer")
    return int(raw)


def build_engine(settings: WorkerSettings) -> Engine:
    from sdserve.engine import Engine  # torch is imported here, on the engine thread

    # Before MKL's first call: fp32 images then do not depend on what they were batched with.
    batch_invariant_environment(os.environ)
    return Engine(device=settings.device, models_dir=settings.models_dir,
                  threads=threads_from(os.environ))


@dataclass(eq=False)  # identity: two equal requests are still two jobs
class _Waiting:
    """A generation job waiting for the engine, and where its outcome goes."""

    job: str
    request: GenerationRequest
    checkpoint: str | None
    restore_checkpoint: bool
    key: Hashable | None
    outcome: asyncio.Future[tuple[GenerationResult, ModelInfo | None, str]]


class EngineHost:
    def __init__(
        self,
        settings: WorkerSettings,
        metrics: WorkerMetrics,
        engine_factory: Callable[[WorkerSettings], Engine] = build_engine,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.job = JobState()
        self.options: dict[str, Any] = dict(DEFAULT_OPTIONS)
        self.state = LoadState.LOADING
        self.load_error: str | None = None
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._lock = asyncio.Lock()
        self._waiting: list[_Waiting] = []  # generation jobs, oldest first
        self._loaded = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------

    async def load_first_model(self) -> None:
        """Create the engine and load --model; /healthz turns 200 when this returns."""
        async with self._turn():
            try:
                self._engine = await self._on_engine_thread(self._engine_factory, self.settings)
                model = await self._on_engine_thread(self._engine.load, self.settings.model)
            except Exception as error:
                self.state, self.load_error = LoadState.FAILED, f"{type(error).__name__}: {error}"
                log.error("loading model %r failed: %s", self.settings.model, self.load_error)
                raise
            finally:
                self._loaded.set()
        self.state = LoadState.READY
        log.info("model %s loaded on %s", model.title, self.settings.device)

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)

    async def engine(self) -> Engine:
        """The engine once the first model is loaded (waits while it loads)."""
        await self._loaded.wait()
        if self._engine is None or self.state is LoadState.FAILED:
            raise NotReady(f"the model failed to load: {self.load_error}")
        return self._engine

    # -- jobs ----------------------------------------------------------------

    async def generate(
        self,
        job: str,
        request: GenerationRequest,
        *,
        checkpoint: str | None = None,
        restore_checkpoint: bool = True,
    ) -> tuple[GenerationResult, ModelInfo | None, str]:
        """Run one job: switch model if asked, generate, switch back if asked.

        Jobs that wait while the engine is busy run in groups (`batcher.next_group`):
        a compatible group is one engine pass, and /sdapi/v1/interrupt stops the whole
        pass. Returns the result, the model that made it and the job timestamp.
        """
        engine = await self.engine()
        key = batch_key(request)
        waiting = _Waiting(
            job, request, checkpoint, restore_checkpoint,
            None if key is None else (checkpoint, restore_checkpoint, key),
            asyncio.get_running_loop().create_future(),
        )
        self._waiting.append(waiting)
        try:
            async with self._turn():
                # Still waiting: lead the next group (FIFO, so it normally holds this job).
                while not waiting.outcome.done():
                    await asyncio.shield(self._run_group(engine, self._take_group()))
        finally:
            if waiting in self._waiting:  # cancelled before any group took it
                self._waiting.remove(waiting)
        return await waiting.outcome

    def _take_group(self) -> list[_Waiting]:
        chosen = next_group(
            [Waiting(w.key, w.request.batch_size) for w in self._waiting],
            max_images=self.settings.max_images,
        )
        group = [self._waiting[i] for i in chosen]
        for member in group:
            self._waiting.remove(member)
        return group

    async def _run_group(self, engine: Engine, group: list[_Waiting]) -> None:
        try:
            results, model, timestamp = await self._generate_group(engine, group)
        except Exception as error:
            for member in group:
                member.outcome.set_exception(error)
        else:
            for member, result in zip(group, results, strict=True):
                member.outcome.set_result((result, model, timestamp))

    async def _generate_group(
        self, engine: Engine, group: list[_Waiting]
    ) -> tuple[list[GenerationResult], ModelInfo | None, str]:
        first = group[0]  # equal keys: the group shares its checkpoint settings
        previous = engine.current
        started = time.perf_counter()
        try:
            if first.checkpoint is not None and not model_matches(engine.current,
                                                                  first.checkpoint):
                await self._on_engine_thread(engine.load, first.checkpoint)
            model = engine.current
            timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
            rounds = max(member.request.n_iter for member in group)
            self.job.begin(first.job, rounds, now=time.time(), timestamp=timestamp)
            sampling_started = time.perf_counter()
            results = await self._on_engine_thread(
                partial(
                    engine.generate_batch,
                    [member.request for member in group],
                    on_progress=self.job.record,
                    should_interrupt=lambda: self.job.interrupted,
                    should_skip=lambda: self.job.skipped,
                )
            )
            sampling_seconds = time.perf_counter() - sampling_started
            if sampling_seconds > 0:
                self.metrics.steps_per_second.set(self.job.steps_done() / sampling_seconds)
            self.metrics.images.inc(sum(len(result.images) for result in results))
        finally:
            self.job.end()
            if first.restore_checkpoint and previous is not None and engine.current != previous:
                await self._on_engine_thread(engine.load, previous.title)
            self.metrics.generation_seconds.observe(time.perf_counter() - started)
        return results, model, timestamp

    async def switch_model(self, name: str) -> ModelInfo:
        """Load `name` unless it is the current model; returns after the switch."""
        engine = await self.engine()
        async with self._turn():
            if not model_matches(engine.current, name):
                await self._on_engine_thread(engine.load, name)
        assert engine.current is not None
        return engine.current

    async def set_options(self, changes: dict[str, Any]) -> None:
        self.options = updated_options(self.options, changes)

    async def refresh(self) -> None:
        engine = await self.engine()
        # Rescanning a folder is file I/O: keep it off the event loop, but it
        # need not wait for a running generation.
        await asyncio.to_thread(engine.refresh)

    # -- helpers -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        self.metrics.jobs_waiting.inc()
        try:
            await self._lock.acquire()
        finally:
            self.metrics.jobs_waiting.dec()
        self.metrics.job_running.set(1)
        try:
            yield
        finally:
            self.metrics.job_running.set(0)
            self._lock.release()

    async def _on_engine_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
