"""Host routing, as Knative's ingress does it: `{name}.{namespace}.{domain}`.

Pure. The port is ignored; with a single service any Host reaches it (so
`curl 127.0.0.1:8080/...` works without a Host header).
"""

from __future__ import annotations

from collections.abc import Sequence

from sdserve.spec import ServiceSpec


def host_name(host_header: str | None) -> str:
    """The Host header without its port, lowercased; IPv6 literals keep their brackets."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


class HostRouter:
    def __init__(self, services: Sequence[ServiceSpec], *, domain: str) -> None:
        if not services:
            raise ValueError("services: at least one service is needed")
        self._by_host = {spec.host(domain).lower(): spec for spec in services}
        if len(self._by_host) != len(services):
            raise ValueError("services: two services share one host (name and namespace)")
        self._only = services[0] if len(services) == 1 else None

    @property
    def hosts(self) -> list[str]:
        return list(self._by_host)

    def route(self, host_header: str | None) -> ServiceSpec | None:
        return self._by_host.get(host_name(host_header), self._only)
