"""Settings: CLI wins over SDSERVE_*, which wins over $PORT, over the defaults."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sdserve.worker.data_dir import cache_env, prepare
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
    ("data dir in the XDG cache", {}, {"XDG_CACHE_HOME": "/xdg"},
     WorkerSettings(data_dir="/xdg/sdserve")),
    ("relative XDG_CACHE_HOME ignored", {}, {"XDG_CACHE_HOME": "cache"}, WorkerSettings()),
    ("SDSERVE_DATA_DIR over the cache", {}, {"XDG_CACHE_HOME": "/xdg", "SDSERVE_DATA_DIR": "/d"},
     WorkerSettings(data_dir="/d")),
    ("--data-dir over env", {"data_dir": "/c"}, {"SDSERVE_DATA_DIR": "/d"},
     WorkerSettings(data_dir="/c")),
]
HOME = {"HOME": "/home/u"}
HOME_DATA_DIR = "/home/u/.cache/sdserve"


@pytest.mark.parametrize(("label", "cli", "env", "want"), CASES, ids=[c[0] for c in CASES])
def test_resolve(label, cli, env, want):
    want = replace(want, data_dir=want.data_dir or HOME_DATA_DIR)
    assert resolve_settings(cli, HOME | env) == want


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
        resolve_settings(cli, HOME | env)


def test_no_home_and_no_data_dir_names_the_option():
    with pytest.raises(SettingsError, match="data_dir"):
        resolve_settings({}, {})
    assert resolve_settings({}, {"SDSERVE_DATA_DIR": "/d"}).data_dir == "/d"


def test_caches_go_under_the_data_dir_unless_the_user_set_them():
    env = cache_env(Path("/d"), {"HF_HOME": "/shared/hf", "TORCH_HOME": ""})
    assert "HF_HOME" not in env
    assert env["TORCH_HOME"] == "/d/torch"
    assert all(path.startswith("/d/") for path in env.values())


def test_body_limit_in_bytes():
    assert WorkerSettings(max_body_mb=1.5).max_body_bytes == 1572864


def test_prepare_makes_the_folder_and_points_unset_caches_into_it(tmp_path):
    env = {"TORCH_HOME": "/shared/torch"}
    made = prepare(str(tmp_path / "new" / "data"), env)
    assert made.is_dir()
    assert env["TORCH_HOME"] == "/shared/torch"
    assert env["HF_HOME"] == str(made / "huggingface")
