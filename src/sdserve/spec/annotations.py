"""Per-revision autoscaling annotations merged over the cluster config.

The accepted spellings are exactly Knative's `KeyPriority` lists
(pkg/apis/autoscaling/register.go): the kebab-case key first, then the old
camelCase one where Knative keeps it; the first one present wins. Ranges follow
Knative's annotation_validation.go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sdserve.spec.config import KPA_CLASS, TARGET_MIN, WINDOW_MAX, WINDOW_MIN, AutoscalerConfig
from sdserve.spec.errors import SpecError
from sdserve.spec.types import Autoscaling
from sdserve.spec.values import read_duration, read_float, read_int

log = logging.getLogger(__name__)

GROUP = "autoscaling.knative.dev/"
HPA_CLASS = "hpa.autoscaling.knative.dev"
ANNOTATIONS_FIELD = "spec.template.metadata.annotations"

# setting -> its annotation spellings, highest priority first.
KEY_PRIORITY: dict[str, tuple[str, ...]] = {
    "class": ("class",),
    "initial-scale": ("initial-scale", "initialScale"),
    "max-scale": ("max-scale", "maxScale"),
    "metric": ("metric",),
    "metric-aggregation-algorithm": ("metric-aggregation-algorithm",
                                     "metricAggregationAlgorithm"),
    "activation-scale": ("activation-scale",),
    "min-scale": ("min-scale", "minScale"),
    "panic-threshold-percentage": ("panic-threshold-percentage", "panicThresholdPercentage"),
    "panic-window-percentage": ("panic-window-percentage", "panicWindowPercentage"),
    "scale-down-delay": ("scale-down-delay", "scaleDownDelay"),
    "scale-to-zero-pod-retention-period": ("scale-to-zero-pod-retention-period",
                                           "scaleToZeroPodRetentionPeriod"),
    "target": ("target",),
    "target-burst-capacity": ("target-burst-capacity", "targetBurstCapacity"),
    "target-utilization-percentage": ("target-utilization-percentage",
                                      "targetUtilizationPercentage"),
    "window": ("window",),
}
_KNOWN = frozenset(GROUP + name for names in KEY_PRIORITY.values() for name in names)
_METRICS = ("concurrency", "rps")
_ALGORITHMS = ("linear", "weighted-exponential", "weightedExponential")

T = TypeVar("T")


def annotation_field(key: str) -> str:
    return f'{ANNOTATIONS_FIELD}["{key}"]'


class _Annotations:
    """Looks settings up by KeyPriority and reads them with the field named."""

    def __init__(self, annotations: Mapping[str, str]) -> None:
        self._annotations = annotations

    def get(self, setting: str, reader: Callable[[str, str], T]) -> T | None:
        for name in KEY_PRIORITY[setting]:
            key = GROUP + name
            if key in self._annotations:
                return reader(str(self._annotations[key]), annotation_field(key))
        return None

    def field(self, setting: str) -> str:
        """The field of the spelling in use (or the kebab-case one when unset)."""
        keys = [GROUP + name for name in KEY_PRIORITY[setting]]
        return annotation_field(next((k for k in keys if k in self._annotations), keys[0]))


def _ranged(reader: Callable[[str, str], float], low: float, high: float,
            unit: str = "") -> Callable[[str, str], float]:
    def read(text: str, field: str) -> float:
        value = reader(text, field)
        if not low <= value <= high:
            raise SpecError(field, f"must be in [{low:g}{unit}, {high:g}{unit}], got \"{text}\"")
        return value
    return read


def whole_seconds(reader: Callable[[str, str], float]) -> Callable[[str, str], float]:
    def read(text: str, field: str) -> float:
        value = reader(text, field)
        if value != round(value):
            raise SpecError(field, f'must be specified with at most second precision, got "{text}"')
        return value
    return read


def _warn_unknown(annotations: Mapping[str, str]) -> None:
    for key in annotations:
        if key.startswith(GROUP) and key not in _KNOWN:
            log.warning("ignoring unknown annotation %s", annotation_field(key))


def _check_class(value: str, field: str) -> str:
    if value.endswith(".knative.dev") and value not in (KPA_CLASS, HPA_CLASS):
        raise SpecError(field, f'must be "{KPA_CLASS}" or "{HPA_CLASS}", got "{value}"')
    if value != KPA_CLASS:
        log.warning("%s is %r: the local runtime always scales with the KPA", field, value)
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def read(text: str, field: str) -> str:
        if text not in choices:
            raise SpecError(field, f"must be one of {', '.join(choices)}, got \"{text}\"")
        return text
    return read


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


def resolve_autoscaling(annotations: Mapping[str, str], container_concurrency: int,
                        config: AutoscalerConfig) -> Autoscaling:
    """The revision's settings: annotations over `config`, validated as Knative does."""
    _warn_unknown(annotations)
    a = _Annotations(annotations)
    autoscaler_class = _pick(a.get("class", _check_class), config.pod_autoscaler_class)
    metric = a.get("metric", _one_of(_METRICS))
    if metric == "rps":
        log.warning("%s: the local runtime scales on concurrency only", a.field("metric"))
    a.get("metric-aggregation-algorithm", _one_of(_ALGORITHMS))

    min_scale = _pick(a.get("min-scale", read_int), config.min_scale)
    max_scale = _pick(a.get("max-scale", read_int), config.max_scale)
    if max_scale != 0 and max_scale < min_scale:
        raise SpecError(a.field("max-scale"), f"max-scale={max_scale} is less than "
                                              f"min-scale={min_scale}")
    if config.max_scale_limit and not 1 <= max_scale <= config.max_scale_limit:
        raise SpecError(a.field("max-scale"),
                        f"must be in [1, {config.max_scale_limit}] (max-scale-limit)")
    activation_scale = a.get("activation-scale", read_int)
    if activation_scale is not None:
        field = a.field("activation-scale")
        if activation_scale < 2:
            raise SpecError(field, f"activation-scale={activation_scale} must be greater than 1")
        if activation_scale < min_scale:
            raise SpecError(field, f"min-scale={min_scale} is greater than "
                                   f"activation-scale={activation_scale}")
        if max_scale and activation_scale > max_scale:
            raise SpecError(field, f"max-scale={max_scale} is less than "
                                   f"activation-scale={activation_scale}")
    initial_scale = a.get("initial-scale", read_int)
    if initial_scale == 0 and not config.allow_zero_initial_scale:
        raise SpecError(a.field("initial-scale"),
                        "0 is not allowed by the cluster (allow-zero-initial-scale is false)")

    target_annotation = a.get("target", read_float)
    if target_annotation is not None and target_annotation < TARGET_MIN:
        raise SpecError(a.field("target"), f"must be at least {TARGET_MIN}")
    # Knative's ResolveMetricTarget: the hard limit caps the soft target.
    total = float(container_concurrency) or config.container_concurrency_target_default
    if target_annotation is not None:
        total = target_annotation
        if container_concurrency:
            total = min(target_annotation, float(container_concurrency))

    tbc = a.get("target-burst-capacity", read_float)
    if tbc is not None and tbc < 0 and tbc != -1:
        raise SpecError(a.field("target-burst-capacity"),
                        "must be either non-negative or -1 (for unlimited)")
    return Autoscaling(
        autoscaler_class=autoscaler_class,
        target=total,
        target_utilization_percentage=_pick(
            a.get("target-utilization-percentage", _ranged(read_float, 1, 100)),
            config.container_concurrency_target_percentage),
        stable_window=_pick(
            a.get("window", whole_seconds(_ranged(read_duration, WINDOW_MIN, WINDOW_MAX, "s"))),
            config.stable_window),
        panic_window_percentage=_pick(
            a.get("panic-window-percentage", _ranged(read_float, 1, 100)),
            config.panic_window_percentage),
        panic_threshold_percentage=_pick(
            a.get("panic-threshold-percentage", _ranged(read_float, 110, 1000)),
            config.panic_threshold_percentage),
        max_scale_up_rate=config.max_scale_up_rate,
        max_scale_down_rate=config.max_scale_down_rate,
        enable_scale_to_zero=config.enable_scale_to_zero,
        scale_to_zero_grace_period=config.scale_to_zero_grace_period,
        scale_to_zero_pod_retention_period=_pick(
            a.get("scale-to-zero-pod-retention-period",
                  _ranged(read_duration, 0, WINDOW_MAX, "s")),
            config.scale_to_zero_pod_retention_period),
        min_scale=min_scale,
        max_scale=max_scale,
        initial_scale=_pick(initial_scale, config.initial_scale),
        activation_scale=_pick(activation_scale, 1),
        scale_down_delay=_pick(
            a.get("scale-down-delay", whole_seconds(_ranged(read_duration, 0, WINDOW_MAX, "s"))),
            config.scale_down_delay),
        target_burst_capacity=_pick(tbc, config.target_burst_capacity),
        tick_interval=config.tick_interval,
    )


def annotations_of(value: Any, field: str) -> dict[str, str]:
    """A metadata.annotations mapping with string values, or a SpecError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(field, "must be a mapping of strings")
    return {str(key): "true" if val is True else "false" if val is False else str(val)
            for key, val in value.items()}
