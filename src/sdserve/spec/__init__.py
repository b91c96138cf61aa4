"""The Knative Service spec: typed settings, Knative's defaults, and the YAML reader."""

from sdserve.spec.config import AutoscalerConfig, config_from_map, load_config_overrides
from sdserve.spec.errors import SpecError
from sdserve.spec.parse import load_services, parse_services
from sdserve.spec.types import (
    DEFAULT_DOMAIN,
    DEFAULT_NAMESPACE,
    Autoscaling,
    Container,
    CookieAffinity,
    Probe,
    ServiceSpec,
)

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_NAMESPACE",
    "AutoscalerConfig",
    "Autoscaling",
    "Container",
    "CookieAffinity",
    "Probe",
    "ServiceSpec",
    "SpecError",
    "config_from_map",
    "load_config_overrides",
    "load_services",
    "parse_services",
]
