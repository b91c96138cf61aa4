"""Comparing pictures in tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def psnr(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit pictures, in dB (inf when identical)."""
    mse = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


# A shared fp32 call is bit-identical to the lone calls on the CPU these tests were written
# on (engine/batching.py), but not on every CPU: on one CI machine three of four pictures
# differed (oneDNN and MKL choose kernels by batch size and by CPU). What holds everywhere
# is "fp32 rounding apart": far above bf16 against fp32 (30 dB) and far above two seeds of
# the same prompt (at most 19 dB on the tiny model).
FP32_MIN_PSNR_DB = 40.0
