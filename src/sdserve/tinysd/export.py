"""Write a trained shapes pipeline as a diffusers folder and as an A1111-style single file.

Both are stored in fp16, which halves the shipped size (SD checkpoints are
commonly fp16); the single file has the original SD key names
(engine.checkpoint_export). The folder also declares the model's native size
(engine.native_size), which the single file, loaded beside it, shares.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from sdserve.engine.checkpoint_export import save_single_file
from sdserve.engine.native_size import write_native_size
from sdserve.tinysd.architecture import NATIVE_SIZE

SAVE_DTYPE = torch.float16
TRAIN_DTYPE = torch.float32
SINGLE_FILE_NAME = "tiny.safetensors"  # the default model's name, as the engine lists it
# What PyTorch writers set. One key only: safetensors writes several in a random order,
# and the shipped file should be byte-for-byte reproducible.
SINGLE_FILE_METADATA = {"format": "pt"}


def export(pipe: StableDiffusionPipeline, folder: Path, single_file: Path) -> None:
    """Write pipe to folder and single_file in fp16; pipe is back in fp32 afterwards."""
    pipe.to(SAVE_DTYPE)
    try:
        pipe.save_pretrained(folder, safe_serialization=True)
        save_single_file(pipe, single_file, metadata=SINGLE_FILE_METADATA)
        write_native_size(folder, NATIVE_SIZE)
    finally:
        pipe.to(TRAIN_DTYPE)
