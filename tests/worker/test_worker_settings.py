"""Settings: CLI wins over SDSERVE_*, which wins over $PORT, over the defaults."""

from __future__ import annotations

import pytest

from sdserve.worker.settings import SettingsError, WorkerSettings, resolve_settings

CASES = [
    ("defaults", {}, {}, WorkerSettings()),
    ("knative $PORT", {}, {"PORT": "8080"}, WorkerSettings(port=8080)),
    ("SDSERVE_PORT over $PORT", {}, {"PORT": "8080", "SDSERVE_PORT": "9000"},
     WorkerSettings(port=9000)),
    ("CLI over everything", {"port": 7000}, {"PORT": "8080", "SDSERVE_PORT": "9000"},
     WorkerSettings(port=7000)),
    ("env options", {}, {"SDSERVE_MODEL": "tiny-b", "SDSERVE_DEVICE": "cuda:1",
                         "SDSERVE_MAX_BODY_MB": "2.5"},
     WorkerSettings(model="tiny-b", device="cuda:1", max_body_mb=2.5)),
    ("CLI model over env", {"model": "x", "models_dir": "/m"}, {"SDSERVE_MODEL": "y"},
     WorkerSettings(model="x", models_dir="/m")),
    ("empty env ignored", {}, {"PORT": ""}, WorkerSettings()),
]


@pytest.mark.parametrize(("label", "cli", "env", "want"), CASES, ids=[c[0] for c in CASES])
def test_resolve(label, cli, env, want):
    assert resolve_settings(cli, env) == want


BAD = [
    ({}, {"PORT": "eighty"}, "PORT"),
    ({}, {"SDSERVE_MAX_SIZE": "big"}, "SDSERVE_MAX_SIZE"),
    ({"device": "tpu"}, {}, "device"),
    ({"port": 70000}, {}, "port"),
    ({"max_images": 0}, {}, "max_images"),
    ({"max_body_mb": 0.0}, {}, "max_body_mb"),
]


@pytest.mark.parametrize(("cli", "env", "field"), BAD)
def test_bad_values_name_the_option(cli, env, field):
    with pytest.raises(SettingsError, match=field):
        resolve_settings(cli, env)


def test_body_limit_in_bytes():
    assert WorkerSettings(max_body_mb=1.5).max_body_bytes == 1572864
