"""Which dtypes the engine computes in, and the casts at the modules' edges.

On a CPU with native bf16 matrix units (AVX-512 BF16 or AMX) the UNet and the
text encoder run in bfloat16, about twice as fast as fp32; elsewhere in fp32.
On CUDA they run in float16. The VAE stays in fp32 by default so the decode is
exact (bf16 decoding costs PSNR for little time), and the sampler's latents stay
in fp32 between steps: the UNet casts its input in and its output back out, so
only the network itself runs in the lower precision.

`SDSERVE_DTYPE=auto|float32|bfloat16|float16` overrides the choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPE_ENV = "SDSERVE_DTYPE"
AUTO = "auto"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    compute: torch.dtype  # UNet and text encoder
    vae: torch.dtype

    @property
    def label(self) -> str:
        return str(self.compute).removeprefix("torch.")


def choose(setting: str, device: str, cpu_flags: frozenset[str]) -> Precision:
    """The dtypes for `setting` (auto or a dtype name) on `device`; ValueError names the field."""
    name = setting.strip().lower() or AUTO
    if name != AUTO and name not in DTYPES:
        valid = ", ".join([AUTO, *DTYPES])
        raise ValueError(f"{DTYPE_ENV}: {setting!r} is not one of {valid}")
    if name == AUTO:
        if device.startswith("cuda"):
            name = "float16"
        elif device == "cpu" and cpu_flags & BF16_CPU_FLAGS:
            name = "bfloat16"
        else:
            name = "float32"
    compute = DTYPES[name]
    # fp16 overflows in SD's VAE decoder; fp32 is the exact and safe choice everywhere.
    return Precision(compute=compute, vae=torch.float32)


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def read_cpu_flags() -> frozenset[str]:
    try:
        return parse_cpu_flags(CPUINFO.read_text())
    except OSError:  # not Linux: no bf16 detection, fp32 is always correct
        return frozenset()


def from_environment(device: str, env: Mapping[str, str]) -> Precision:
    return choose(env.get(DTYPE_ENV, AUTO), device, read_cpu_flags())


# -- casts at module edges ---------------------------------------------------------


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if torch.is_tensor(value) and value.is_floating_point() and value.dtype != dtype:
        return value.to(dtype)
    return value


def cast_inputs(module: torch.nn.Module, dtype: torch.dtype, names: tuple[str, ...] = ()) -> None:
    """Cast the first positional input and the named keyword inputs to `dtype`.

    Only those: a UNet's timestep must stay fp32 for its sinusoidal embedding.
    """

    def hook(_: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            args = (_cast(args[0], dtype), *args[1:])
        return args, {k: _cast(v, dtype) if k in names else v for k, v in kwargs.items()}

    module.register_forward_pre_hook(hook, with_kwargs=True)


def cast_outputs(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast floating outputs (a tensor, a tuple, or a diffusers output object) to `dtype`."""

    def hook(_: torch.nn.Module, args: tuple, output: Any) -> Any:
        if isinstance(output, tuple):
            return tuple(_cast(v, dtype) for v in output)
        if isinstance(output, Mapping):  # diffusers' BaseOutput is an OrderedDict
            return type(output)(**{k: _cast(v, dtype) for k, v in output.items()})
        return _cast(output, dtype)

    module.register_forward_hook(hook)
