from __future__ import annotations

import pytest

from sdserve.runtime.devices import parse_visible_devices, pick_device, visible_devices

SMI_TWO = (
    "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaa)\n"
    "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbb)\n"
)


@pytest.mark.parametrize(
    ("label", "cuda_visible", "listing", "want"),
    [
        ("no gpu", None, "", ["cpu"]),
        ("nvidia-smi", None, SMI_TWO, ["cuda:0", "cuda:1"]),
        ("env wins, renumbered", "3,5", SMI_TWO, ["cuda:0", "cuda:1"]),
        ("uuids", "GPU-aaa", "", ["cuda:0"]),
        ("hidden", "", SMI_TWO, ["cpu"]),
        ("minus one hides", "-1", SMI_TWO, ["cpu"]),
        ("stops at invalid", "0,-1,1", "", ["cuda:0"]),
        ("spaces", " 0 , 1 ", "", ["cuda:0", "cuda:1"]),
    ],
)
def test_parse_visible_devices(label, cuda_visible, listing, want):
    assert parse_visible_devices(cuda_visible, listing) == want, label


FOUR = ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]


@pytest.mark.parametrize(
    ("label", "devices", "in_use", "gpus", "want"),
    [
        ("cpu", ["cpu"], {"cpu": 7}, 0, "cpu"),
        ("first when free", FOUR, {}, 0, "cuda:0"),
        ("round robin", FOUR, {"cuda:0": 1, "cuda:1": 1}, 1, "cuda:2"),
        ("wraps to least used", FOUR, dict.fromkeys(FOUR, 1) | {"cuda:0": 2}, 1, "cuda:1"),
        ("groups of two", FOUR, {"cuda:0": 1}, 2, "cuda:2"),
        ("group larger than machine", FOUR, {"cuda:0": 1}, 8, "cuda:0"),
    ],
)
def test_pick_device(label, devices, in_use, gpus, want):
    assert pick_device(devices, in_use, gpus) == want, label


def test_visible_devices_reads_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_devices() == ["cuda:0", "cuda:1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_devices() == ["cpu"]
