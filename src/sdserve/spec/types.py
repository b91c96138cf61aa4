"""Typed settings of a Knative Service, as every other part of sdserve reads them.

`spec.parse` builds these from YAML; nothing here does I/O. Durations are
seconds (float), percentages are kept as Knative writes them (100 = 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_NAMESPACE = "default"
DEFAULT_DOMAIN = "example.com"


@dataclass(frozen=True)
class Autoscaling:
    """One revision's autoscaling settings: cluster config merged with annotations."""

    autoscaler_class: str = "kpa.autoscaling.knative.dev"
    # Soft per-replica target before utilization (the `target` annotation, or
    # containerConcurrency when > 0, else the config default of 100).
    target: float = 100.0
    target_utilization_percentage: float = 70.0
    stable_window: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention_period: float = 0.0
    min_scale: int = 0
    max_scale: int = 0  # 0 = unlimited
    initial_scale: int = 1
    activation_scale: int = 1
    scale_down_delay: float = 0.0
    target_burst_capacity: float = 211.0
    # Knative's autoscaler ticks every 2 s; an sdserve config key for tests and demos.
    tick_interval: float = 2.0

    @property
    def target_value(self) -> float:
        """Per-replica concurrency the KPA aims for: target × utilization."""
        return self.target * self.target_utilization_percentage / 100.0

    @property
    def panic_window(self) -> float:
        return self.stable_window * self.panic_window_percentage / 100.0


@dataclass(frozen=True)
class CookieAffinity:
    """ACK's `serving.knative.dev.alibabacloud/affinity: cookie` session stickiness."""

    cookie_name: str = "sd"
    max_age: int = 1800


@dataclass(frozen=True)
class Probe:
    kind: Literal["tcp", "http"] = "tcp"
    port: int | None = None
    path: str = "/"
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1


@dataclass(frozen=True)
class Container:
    """The user container. Locally the replica is always `sdserve worker`; image,
    command and args are kept for rendering to a cluster."""

    name: str = "user-container"
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    port: int = 8080
    env: tuple[tuple[str, str], ...] = ()
    gpus: int = 0
    readiness_probe: Probe | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    namespace: str = DEFAULT_NAMESPACE
    container_concurrency: int = 0  # 0 = unlimited
    timeout_seconds: float = 300.0
    # Seconds a replica may stay not ready after it started; Knative's config-deployment
    # default (the Kubernetes Deployment's progressDeadlineSeconds default).
    progress_deadline: float = 600.0
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    affinity: CookieAffinity | None = None
    container: Container = field(default_factory=Container)
    # The document as read, so that rendering keeps every field verbatim.
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def host(self, domain: str = DEFAULT_DOMAIN) -> str:
        """Knative's default external host: {name}.{namespace}.{domain}."""
        return f"{self.name}.{self.namespace}.{domain}"
