"""Which dtypes the engine computes in, and the casts at the modules' edges.

On a CPU with native bf16 matrix units (AVX-512 BF16 or AMX) the networks run
in bfloat16, two to three times as fast as fp32; elsewhere in fp32. On CUDA they
run in float16, except the VAE, which stays fp32 there: SD's VAE decoder
overflows fp16. The sampler's latents stay in fp32 between steps: the UNet casts
its input in and its output back out, so only the network runs in the lower
precision.

The VAE follows the compute dtype on a CPU: in fp32 its decode takes longer than
all four UNet steps of a 256 px image, and bf16 costs about 1 dB of PSNR against
fp32 (47.6 against 48.8 dB, SD 1.5 architecture, measured by bench/engine.py).

`SDSERVE_DTYPE` and `SDSERVE_VAE_DTYPE` (auto|float32|bfloat16|float16) override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPE_ENV = "SDSERVE_DTYPE"
VAE_DTYPE_ENV = "SDSERVE_VAE_DTYPE"
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


def _name(setting: str, field: str) -> str:
    name = setting.strip().lower() or AUTO
    if name != AUTO and name not in DTYPES:
        valid = ", ".join([AUTO, *DTYPES])
        raise ValueError(f"{field}: {setting!r} is not one of {valid}")
    return name


def choose(setting: str, device: str, cpu_flags: frozenset[str],
           vae_setting: str = AUTO) -> Precision:
    """The dtypes for the settings (auto or a dtype name) on `device`; ValueError names the
    setting at fault."""
    name, vae_name = _name(setting, DTYPE_ENV), _name(vae_setting, VAE_DTYPE_ENV)
    if name == AUTO:
        if device.startswith("cuda"):
            name = "float16"
        elif device == "cpu" and cpu_flags & BF16_CPU_FLAGS:
            name = "bfloat16"
        else:
            name = "float32"
    if vae_name == AUTO:
        vae_name = "float32" if name == "float16" else name
    return Precision(compute=DTYPES[name], vae=DTYPES[vae_name])


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
    return choose(env.get(DTYPE_ENV, AUTO), device, read_cpu_flags(),
                  env.get(VAE_DTYPE_ENV, AUTO))


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
