"""A container's readinessProbe (tcpSocket or httpGet) → `Probe`."""

from __future__ import annotations

from typing import Any

from sdserve.spec.errors import SpecError
from sdserve.spec.types import Probe
from sdserve.spec.values import read_int

_TIMINGS = {  # Kubernetes field -> (Probe attribute, smallest accepted value, type)
    "initialDelaySeconds": ("initial_delay", 0, float),
    "periodSeconds": ("period", 0, float),
    "timeoutSeconds": ("timeout", 1, float),
    "failureThreshold": ("failure_threshold", 1, int),
    "successThreshold": ("success_threshold", 1, int),
}


def _port(handler: dict[str, Any], field: str) -> int | None:
    port = handler.get("port")
    if port is None:
        return None  # Knative fills in the serving port
    value = read_int(str(port), f"{field}.port", minimum=1)
    if value > 65535:
        raise SpecError(f"{field}.port", f"must be <= 65535, got {value}")
    return value


def parse_probe(value: Any, field: str) -> Probe | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpecError(field, "must be a mapping")
    timings: dict[str, Any] = {}
    for key, (attribute, minimum, kind) in _TIMINGS.items():
        if value.get(key) is not None:
            timings[attribute] = kind(read_int(str(value[key]), f"{field}.{key}", minimum=minimum))
    if isinstance(value.get("tcpSocket"), dict):
        return Probe(kind="tcp", port=_port(value["tcpSocket"], f"{field}.tcpSocket"), **timings)
    if isinstance(value.get("httpGet"), dict):
        handler = value["httpGet"]
        path = str(handler.get("path") or "/")
        if not path.startswith("/"):
            raise SpecError(f"{field}.httpGet.path", f'must start with "/", got "{path}"')
        return Probe(kind="http", port=_port(handler, f"{field}.httpGet"), path=path, **timings)
    raise SpecError(field, "must have a tcpSocket or httpGet handler (exec and grpc are not "
                           "supported locally)")
