"""Read-only views of the gateway's live state, built per scrape: what
`/-/status` and `/-/metrics` render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdserve.gateway.stats import RequestStats
from sdserve.runtime.replica import STANDBY_DISABLED, Replica, ReplicaState, StandbySnapshot
from sdserve.spec import ServiceSpec


@dataclass(frozen=True)
class ReplicaView:
    replica: Replica
    in_flight: int
    images_served: int  # 2xx generation answers the gateway relayed from it


@dataclass(frozen=True)
class ServiceView:
    spec: ServiceSpec
    host: str
    replicas: tuple[ReplicaView, ...]
    queue: int
    concurrency: int  # requests holding a slot or waiting for one, now
    scale: Mapping[str, Any]  # the autoscaler's ScaleStatus.status(name)
    stats: RequestStats
    # What the runtime says of the service's warm standby; a gateway given none has none.
    standby: StandbySnapshot = STANDBY_DISABLED

    def count(self, state: ReplicaState) -> int:
        return sum(view.replica.state is state for view in self.replicas)


def status_document(services: list[ServiceView], *, now: float) -> dict[str, Any]:
    """The `/-/status` JSON of DESIGN.md; `now` is on the replicas' monotonic clock."""
    return {
        "services": [
            {
                "name": view.spec.name,
                "namespace": view.spec.namespace,
                "host": view.host,
                "desired": view.scale.get("desired"),
                "ready": view.count(ReplicaState.READY),
                "panic": view.scale.get("panic"),
                "queue": view.queue,
                "in_flight": view.concurrency - view.queue,
                "stable_concurrency": view.scale.get("stable_concurrency"),
                "panic_concurrency": view.scale.get("panic_concurrency"),
                "target": view.scale.get("target"),
                "excess_burst_capacity": view.scale.get("excess_burst_capacity"),
                "container_concurrency": view.spec.container_concurrency,
                "standby": {"state": view.standby.state.value, "pid": view.standby.pid},
                "replicas": [
                    {
                        "id": r.replica.id,
                        "state": r.replica.state.value,
                        "device": r.replica.device,
                        "in_flight": r.in_flight,
                        "started_at": r.replica.started_at,
                        "uptime": round(max(0.0, now - r.replica.started_at), 3),
                        "pid": r.replica.pid,
                        "images_served": r.images_served,
                    }
                    for r in view.replicas
                ],
            }
            for view in services
        ]
    }
