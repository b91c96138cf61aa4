"""The worker writes only under its data dir: the caches of the libraries it
loads are pointed there before those libraries are imported.

`cache_env` is pure (the environment in, the variables to add out); `prepare`
is the I/O edge the CLI calls once at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

# Each library's cache variable and its folder under the data dir. A variable
# the user already set is theirs: a shared hub cache must stay shared.
CACHE_FOLDERS: dict[str, str] = {
    "HF_HOME": "huggingface",  # hub downloads of --model / sd_model_checkpoint
    "TORCH_HOME": "torch",  # torch.hub downloads
    "CUDA_CACHE_PATH": "cuda",  # the CUDA driver's JIT kernel cache (else ~/.nv)
    # torch makes $TMPDIR/torchinductor_<user> at import, compiled or not.
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "TRITON_CACHE_DIR": "triton",  # compiled GPU kernels (else ~/.triton)
}


def cache_env(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The cache variables to set: those the user left unset, under data_dir."""
    return {
        name: str(data_dir / folder) for name, folder in CACHE_FOLDERS.items() if not env.get(name)
    }


def prepare(data_dir: str, env: MutableMapping[str, str] = os.environ) -> Path:
    """Create the data dir and point the unset caches into it; returns its absolute path.

    Must run before huggingface_hub or torch is imported: they read these
    variables once, at import. Raises OSError when the folder cannot be made.
    """
    path = Path(data_dir).expanduser().absolute()
    path.mkdir(parents=True, exist_ok=True)
    env.update(cache_env(path, env))
    return path
