"""/sdapi/v1/memory figures: RAM from psutil, CUDA from torch when a GPU is there."""

from __future__ import annotations

import psutil
import torch


def ram() -> dict:
    vm = psutil.virtual_memory()
    return {"free": vm.available, "used": vm.total - vm.available, "total": vm.total}


def cuda(device: str) -> dict:
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return {"error": "no CUDA device in use"}
    index = torch.device(device).index or 0
    free, total = torch.cuda.mem_get_info(index)
    stats = torch.cuda.memory_stats(index)

    def pair(name: str) -> dict:
        return {
            "current": stats.get(f"{name}.all.current", 0),
            "peak": stats.get(f"{name}.all.peak", 0),
        }

    return {
        "system": {"free": free, "used": total - free, "total": total},
        "active": pair("active_bytes"),
        "allocated": pair("allocated_bytes"),
        "reserved": pair("reserved_bytes"),
        "inactive": pair("inactive_split_bytes"),
    }


def memory(device: str) -> dict:
    return {"ram": ram(), "cuda": cuda(device)}
