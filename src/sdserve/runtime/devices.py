"""Which accelerator each replica runs on: visible GPUs round-robin, else the CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

CPU = "cpu"


def parse_visible_devices(cuda_visible_devices: str | None, nvidia_smi_listing: str) -> list[str]:
    """Device names as torch numbers them in a child that inherits our environment.

    `CUDA_VISIBLE_DEVICES`, when set, decides (its entries may be indexes or UUIDs;
    the child sees them renumbered from 0); otherwise each `GPU n:` line of
    `nvidia-smi -L` is one device. No GPU → ["cpu"].
    """
    if cuda_visible_devices is not None:
        entries = [e.strip() for e in cuda_visible_devices.split(",") if e.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide all GPUs.
        count = next((i for i, e in enumerate(entries) if e.startswith("-")), len(entries))
    else:
        count = sum(1 for line in nvidia_smi_listing.splitlines() if line.startswith("GPU "))
    return [f"cuda:{i}" for i in range(count)] or [CPU]


def visible_devices() -> list[str]:
    """The devices of this machine (reads the environment, may run `nvidia-smi -L`)."""
    cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    listing = ""
    smi = shutil.which("nvidia-smi")
    if cuda_visible is None and smi:
        try:
            listing = subprocess.run(
                [smi, "-L"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            listing = ""
    return parse_visible_devices(cuda_visible, listing)


def pick_device(devices: Sequence[str], in_use: Mapping[str, int], gpus: int) -> str:
    """The device for a new replica: the least used of the devices it may use.

    A replica that asks for `gpus` > 1 gets a whole group of that many devices and
    runs on the group's first one, so devices are handed out group by group; ties
    go to the earlier device, which makes starts round-robin.
    """
    group_size = max(1, min(gpus, len(devices)))
    candidates = devices[::group_size]
    return min(candidates, key=lambda device: (in_use.get(device, 0), candidates.index(device)))
