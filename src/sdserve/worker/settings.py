"""The worker's settings: one frozen dataclass of defaults, one reader for the
environment (`SDSERVE_` prefix, plus Knative's `$PORT`, plus the per-user cache
folder that holds the default data dir), one validation step.

Pure: the caller passes the environment in, so tests need no monkeypatching.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import PurePath
from typing import Any

ENV_PREFIX = "SDSERVE_"
DEFAULT_PORT = 7860  # AUTOMATIC1111's port
_DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")


@dataclass(frozen=True)
class WorkerSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    model: str = "tiny"
    models_dir: str | None = None
    device: str = "cpu"
    max_size: int = 2048  # largest width or height accepted, in pixels
    max_images: int = 16  # largest batch_size × n_iter accepted
    max_body_mb: float = 50.0
    # SIGTERM waits this long for the running job before cancelling it.
    graceful_timeout: float = 300.0
    # The only folder the worker writes to (hub downloads, caches). None only in
    # settings built by hand: resolve_settings always fills in default_data_dir.
    data_dir: str | None = None

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


class SettingsError(ValueError):
    """A bad option value; the message names the option."""


def default_data_dir(env: Mapping[str, str]) -> str:
    """`$XDG_CACHE_HOME/sdserve`, else `$HOME/.cache/sdserve` (the XDG default)."""
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    cache = env.get("XDG_CACHE_HOME", "")
    if cache and PurePath(cache).is_absolute():
        return str(PurePath(cache, "sdserve"))
    if env.get("HOME"):
        return str(PurePath(env["HOME"], ".cache", "sdserve"))
    raise SettingsError(
        "data_dir: neither HOME nor XDG_CACHE_HOME is set to put the default in; "
        "pass --data-dir or set SDSERVE_DATA_DIR"
    )


def _convert(name: str, raw: Any, kind: type) -> Any:
    if raw is None or isinstance(raw, kind):
        return raw
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


def resolve_settings(cli: Mapping[str, Any], env: Mapping[str, str]) -> WorkerSettings:
    """CLI value, else `SDSERVE_<NAME>`, else (for the port) `$PORT`, else the default."""
    defaults = WorkerSettings()
    values: dict[str, Any] = {}
    for f in fields(WorkerSettings):
        kind = type(getattr(defaults, f.name)) if getattr(defaults, f.name) is not None else str
        env_name = ENV_PREFIX + f.name.upper()
        raw = cli.get(f.name)
        source = f"--{f.name.replace('_', '-')}"
        if raw is None and env.get(env_name):
            raw, source = env[env_name], env_name
        if raw is None and f.name == "port" and env.get("PORT"):
            raw, source = env["PORT"], "PORT"
        if raw is not None:
            values[f.name] = _convert(source, raw, kind)
    if not values.get("data_dir"):
        values["data_dir"] = default_data_dir(env)
    settings = replace(defaults, **values)
    validate_settings(settings)
    return settings


def validate_settings(settings: WorkerSettings) -> None:
    if not 0 <= settings.port <= 65535:
        raise SettingsError(f"port: {settings.port} is not a TCP port (0..65535)")
    if not _DEVICE.match(settings.device):
        raise SettingsError(f"device: {settings.device!r} is not cpu, cuda or cuda:N")
    if settings.max_size < 8:
        raise SettingsError(f"max_size: {settings.max_size} is below 8")
    if settings.max_images < 1:
        raise SettingsError(f"max_images: {settings.max_images} is below 1")
    if settings.max_body_mb <= 0:
        raise SettingsError(f"max_body_mb: {settings.max_body_mb} must be positive")
    if settings.graceful_timeout < 0:
        raise SettingsError(f"graceful_timeout: {settings.graceful_timeout} is negative")
