"""`sdserve worker --standby`: a replica started before it is needed.

The standby does the slow part of a start that does not depend on which replica
it will be (the interpreter, torch, diffusers, transformers, uvicorn, our engine
and app modules, and the sha256 of a single-file `--model`), prints `READY_LINE`
on stdout, then blocks on stdin for one JSON line naming its replica identity:

    {"port": 8123, "env": {"SDSERVE_DEVICE": "cpu", ...}, "replica": "sd-3f9a1c"}

It applies `env` and `PORT` to its environment and then runs the ordinary worker
path, so settings, errors and exit codes are those of a cold start. Stdin closed
before a message means the runtime no longer needs it: exit 0, quietly.

What must not change at hand-over: the data dir and the caches pointed into it.
huggingface_hub and torch read those variables once, at import, which the
standby has already done; a message that changes them is refused.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from sdserve.engine.sources import start_hashing
from sdserve.worker import data_dir
from sdserve.worker.settings import ENV_PREFIX, SettingsError, resolve_settings

READY_LINE = "ready"  # the runtime (runtime/standby.py) waits for exactly this line

# Imported ahead of the hand-over: everything a replica imports before its model
# loads. torch first fixes nothing a replica needs to choose later: the engine
# calls torch.set_num_threads(SDSERVE_THREADS) when it is built, after hand-over.
WARM_MODULES = (
    "torch",
    "transformers",
    "diffusers",
    "uvicorn",
    "sdserve.engine.engine",
    "sdserve.worker.app",
)

# diffusers and transformers import their classes lazily, on first use: without these a
# replica imports them (some 1,400 modules, scipy among them) while it loads its model
# (pipelines, model classes, the single-file key conversion) or serves its first
# request (the sampler's scheduler, see `scheduler_classes`).
WARM_NAMES = (
    ("diffusers", (
        "StableDiffusionPipeline", "StableDiffusionXLPipeline", "AutoPipelineForImage2Image",
        "AutoPipelineForInpainting", "UNet2DConditionModel", "AutoencoderKL",
    )),
    ("transformers", ("CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer")),
    ("diffusers.loaders", ("single_file_utils",)),
)

# Read before or during the imports above (data_dir.prepare, then the libraries' caches).
FIXED_AT_IMPORT = (
    f"{ENV_PREFIX}DATA_DIR",
    "XDG_CACHE_HOME",
    "HOME",
    *data_dir.CACHE_FOLDERS,
)


class HandoverError(ValueError):
    """A bad hand-over message; the text names the field."""


@dataclass(frozen=True)
class Handover:
    port: int
    env: dict[str, str]  # to apply over the standby's environment; PORT included
    replica: str | None = None  # the runtime's replica id, for the logs


def parse_handover(line: str, current_env: Mapping[str, str]) -> Handover:
    """The identity in one hand-over line, checked against the environment the
    standby imported its libraries under."""
    try:
        message: Any = json.loads(line)
    except ValueError as error:
        raise HandoverError(f"message: not JSON ({error})") from None
    if not isinstance(message, dict):
        raise HandoverError(f"message: expected a JSON object, got {type(message).__name__}")
    unknown = sorted(set(message) - {"port", "env", "replica"})
    if unknown:
        raise HandoverError(f"{unknown[0]}: unknown field (expected port, env, replica)")

    port = message.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise HandoverError(f"port: expected a TCP port 1..65535, got {port!r}")

    env = message.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise HandoverError("env: expected an object of string names to string values")
    if env.get("PORT", str(port)) != str(port):
        raise HandoverError(f"env.PORT: {env['PORT']!r} disagrees with port {port}")
    for name in FIXED_AT_IMPORT:
        if name in env and env[name] != current_env.get(name):
            raise HandoverError(
                f"env.{name}: the standby was started with {current_env.get(name)!r} and has "
                f"already imported its libraries; start a new standby to use {env[name]!r}"
            )

    replica = message.get("replica")
    if replica is not None and not isinstance(replica, str):
        raise HandoverError(f"replica: expected a string, got {replica!r}")
    return Handover(port=port, env={**env, "PORT": str(port)}, replica=replica)


def warm_up(cli: Mapping[str, Any]) -> None:
    """Point the caches at the data dir, then import. With settings that do not
    resolve, import nothing: the replica reports them after hand-over, as a cold
    start would, and nothing has written outside its data dir meanwhile."""
    try:
        settings = resolve_settings(cli, os.environ)
        assert settings.data_dir is not None  # resolve_settings fills it in
        data_dir.prepare(settings.data_dir)
    except (SettingsError, OSError):
        return
    # The model is known before the hand-over: its sha256 (1.5 s for SD 1.5) runs on a
    # thread of its own beside the imports, and the replica's load finds it done.
    start_hashing(settings.model)
    for module in WARM_MODULES:
        importlib.import_module(module)
    from transformers.utils import logging as transformers_logging

    # Resolving diffusers' pipelines makes transformers warn about image processors we
    # never use (no torchvision); the standby stays quiet until it has a replica's log.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        for module, names in (*WARM_NAMES, ("diffusers", scheduler_classes())):
            loaded = importlib.import_module(module)
            for name in names:
                getattr(loaded, name)
    finally:
        transformers_logging.set_verbosity(verbosity)


def scheduler_classes() -> tuple[str, ...]:
    """The diffusers scheduler of every A1111 sampler we serve."""
    from sdserve.engine.samplers import SAMPLERS

    return tuple(sorted({sampler.scheduler_class for sampler in SAMPLERS}))


def await_identity(
    cli: Mapping[str, Any], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> Handover | None:
    """Warm up, say so, and wait; None when stdin closes first. Raises HandoverError."""
    warm_up(cli)
    print(READY_LINE, file=stdout, flush=True)
    line = stdin.readline()
    if not line:
        return None
    return parse_handover(line, os.environ)
