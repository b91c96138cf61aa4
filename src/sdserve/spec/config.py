"""Cluster-wide autoscaler settings: Knative's `config-autoscaler` ConfigMap.

One source of defaults (`AutoscalerConfig()`), one reader for the kebab-case
keys (`config_from_map`), and a separate `validate_config`, as Knative's
pkg/autoscaler/config does. `tick-interval` is sdserve's own key, for tests and
demos that want a faster loop than Knative's 2 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sdserve.spec.errors import SpecError
from sdserve.spec.values import read_bool, read_duration, read_float, read_int

log = logging.getLogger(__name__)

KPA_CLASS = "kpa.autoscaling.knative.dev"
WINDOW_MIN = 6.0
WINDOW_MAX = 3600.0
TARGET_MIN = 0.01


@dataclass(frozen=True)
class AutoscalerConfig:
    """Knative's defaults; durations in seconds, percentages as written (70 = 70 %)."""

    pod_autoscaler_class: str = KPA_CLASS
    enable_scale_to_zero: bool = True
    allow_zero_initial_scale: bool = False
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    container_concurrency_target_percentage: float = 70.0
    container_concurrency_target_default: float = 100.0
    requests_per_second_target_default: float = 200.0
    target_burst_capacity: float = 211.0
    panic_window_percentage: float = 10.0
    activator_capacity: float = 100.0
    panic_threshold_percentage: float = 200.0
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    stable_window: float = 60.0
    scale_down_delay: float = 0.0
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention_period: float = 0.0
    tick_interval: float = 2.0


def _percentage(text: str, field: str) -> float:
    # Knative takes "70" and "0.7" alike: values up to 1.0 are fractions.
    value = read_float(text, field)
    return value * 100.0 if value <= 1.0 else value


def _negative_int(text: str, field: str) -> int:
    # Knative reads these as plain int32 and leaves the range to validation.
    return read_int(text, field, minimum=-(2**31))


_READERS: dict[str, Callable[[str, str], Any]] = {
    "pod-autoscaler-class": lambda text, _field: str(text),
    "enable-scale-to-zero": read_bool,
    "allow-zero-initial-scale": read_bool,
    "max-scale-up-rate": read_float,
    "max-scale-down-rate": read_float,
    "container-concurrency-target-percentage": _percentage,
    "container-concurrency-target-default": read_float,
    "requests-per-second-target-default": read_float,
    "target-burst-capacity": read_float,
    "panic-window-percentage": read_float,
    "activator-capacity": read_float,
    "panic-threshold-percentage": read_float,
    "initial-scale": _negative_int,
    "min-scale": _negative_int,
    "max-scale": _negative_int,
    "max-scale-limit": _negative_int,
    "stable-window": read_duration,
    "scale-down-delay": read_duration,
    "scale-to-zero-grace-period": read_duration,
    "scale-to-zero-pod-retention-period": read_duration,
    "tick-interval": read_duration,
}
CONFIG_KEYS = frozenset(_READERS)


def config_field(key: str) -> str:
    return f'config-autoscaler["{key}"]'


def config_from_map(data: Mapping[str, str]) -> AutoscalerConfig:
    """Read config-autoscaler keys over the defaults, then validate the result.

    Unknown keys are logged and ignored, as Knative ignores them.
    """
    changes: dict[str, Any] = {}
    for key, text in data.items():
        reader = _READERS.get(key)
        if reader is None:
            if not key.startswith("_"):  # "_example" and friends are documentation
                log.warning("ignoring unknown config-autoscaler key %r", key)
            continue
        changes[key.replace("-", "_")] = reader(str(text), config_field(key))
    return validate_config(replace(AutoscalerConfig(), **changes))


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise SpecError(config_field(key), message)


def validate_config(c: AutoscalerConfig) -> AutoscalerConfig:
    """Knative's ranges for the cluster config; returns `c` unchanged when valid."""
    _check(c.scale_to_zero_grace_period > 0, "scale-to-zero-grace-period", "must be positive")
    _check(c.scale_down_delay >= 0, "scale-down-delay", "cannot be negative")
    _check(c.scale_down_delay == round(c.scale_down_delay), "scale-down-delay",
           "must be specified with at most second precision")
    _check(c.scale_to_zero_pod_retention_period >= 0, "scale-to-zero-pod-retention-period",
           "cannot be negative")
    _check(c.target_burst_capacity >= 0 or c.target_burst_capacity == -1,
           "target-burst-capacity", "must be either non-negative or -1 (for unlimited)")
    _check(0 < c.container_concurrency_target_percentage <= 100,
           "container-concurrency-target-percentage", "must be in (0, 100]")
    _check(c.container_concurrency_target_percentage / 100
           * c.container_concurrency_target_default >= TARGET_MIN,
           "container-concurrency-target-default",
           f"with container-concurrency-target-percentage must yield a target >= {TARGET_MIN}")
    _check(c.requests_per_second_target_default >= TARGET_MIN,
           "requests-per-second-target-default", f"must be at least {TARGET_MIN}")
    _check(c.activator_capacity >= 1, "activator-capacity", "must be at least 1")
    _check(c.max_scale_up_rate > 1, "max-scale-up-rate", "must be greater than 1.0")
    _check(c.max_scale_down_rate > 1, "max-scale-down-rate", "must be greater than 1.0")
    _check(WINDOW_MIN <= c.stable_window <= WINDOW_MAX, "stable-window",
           f"must be in [{WINDOW_MIN:g}s, {WINDOW_MAX:g}s]")
    _check(c.stable_window == round(c.stable_window), "stable-window",
           "must be specified with at most second precision")
    _check(1 <= c.panic_window_percentage <= 100, "panic-window-percentage",
           "must be in [1, 100]")
    _check(110 <= c.panic_threshold_percentage <= 1000, "panic-threshold-percentage",
           "must be in [110, 1000]")
    _check(c.initial_scale >= (0 if c.allow_zero_initial_scale else 1), "initial-scale",
           "must be at least 1 (or 0 when allow-zero-initial-scale is true)")
    _check(c.min_scale >= 0, "min-scale", "must be at least 0")
    _check(c.max_scale_limit >= 0, "max-scale-limit", "must be at least 0")
    lowest_max = 1 if c.max_scale_limit > 0 else 0
    _check(c.max_scale >= lowest_max and (c.max_scale_limit == 0
                                          or c.max_scale <= c.max_scale_limit),
           "max-scale", f"must be in [{lowest_max}, max-scale-limit ({c.max_scale_limit})]")
    _check(c.max_scale == 0 or c.min_scale <= c.max_scale, "min-scale",
           f"must not exceed max-scale ({c.max_scale})")
    _check(c.tick_interval > 0, "tick-interval", "must be positive")
    return c


def _file_mapping(path: str) -> dict[str, str]:
    """A ConfigMap YAML (its `data`) or a plain mapping of config-autoscaler keys."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(path, f"cannot read autoscaler config: {error}") from None
    if isinstance(document, dict) and document.get("kind") == "ConfigMap":
        document = document.get("data") or {}
    if not isinstance(document, dict):
        raise SpecError(path, "must be a ConfigMap or a mapping of config-autoscaler keys")
    return {str(key): _scalar(value) for key, value in document.items()}


def _scalar(value: object) -> str:
    # YAML reads `true` and `2` as bool and int; ConfigMap data is always text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_config_overrides(file: str | None, sets: Sequence[str]) -> dict[str, str]:
    """`--autoscaler-config FILE` then `--set key=value` (later wins), checked."""
    overrides = _file_mapping(file) if file else {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", f'must be key=value, got "{item}"')
        overrides[key.strip()] = value.strip()
    config_from_map(overrides)  # fail now, naming the key, rather than at serve time
    return overrides
