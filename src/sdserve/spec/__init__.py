"""The Knative Service spec: typed settings, Knative's defaults, and the YAML reader."""

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
    "Autoscaling",
    "Container",
    "CookieAffinity",
    "Probe",
    "ServiceSpec",
]
