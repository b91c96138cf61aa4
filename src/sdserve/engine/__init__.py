"""The engine: Stable Diffusion on diffusers, behind a small HTTP-free API.

`Engine` and the errors import torch and diffusers, so they are imported on
first use: `import sdserve.engine.types` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Engine",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequest",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFound",
    "Progress",
    "ProgressCallback",
    "format_infotext",
    "parse_infotext",
]

_WHERE = {
    "Engine": "sdserve.engine.engine",
    "EngineError": "sdserve.engine.errors",
    "InvalidRequest": "sdserve.engine.errors",
    "ModelLoadError": "sdserve.engine.errors",
    "ModelNotFound": "sdserve.engine.errors",
    "GenerationRequest": "sdserve.engine.types",
    "GenerationResult": "sdserve.engine.types",
    "ModelInfo": "sdserve.engine.types",
    "Progress": "sdserve.engine.types",
    "ProgressCallback": "sdserve.engine.types",
    "format_infotext": "sdserve.engine.infotext",
    "parse_infotext": "sdserve.engine.infotext",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sdserve.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
