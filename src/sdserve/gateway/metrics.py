"""`/-/metrics`: Prometheus text with the names Knative's dashboards read.

Collected at scrape time from live state (no metric objects on the request
path), into a registry of the gateway's own so that several gateways (tests)
never share series. Labels as Knative's: configuration and revision are the
service's name, since a local service has one revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sdserve.gateway.stats import code_class
from sdserve.gateway.views import ServiceView
from sdserve.runtime.replica import ReplicaState

LABELS = ("namespace_name", "service_name", "configuration_name", "revision_name")
CODE_LABELS = (*LABELS, "response_code", "response_code_class")

# name → (help, how to read it from a view); the autoscaler's and the runtime's gauges.
GAUGES: dict[str, tuple[str, Callable[[ServiceView], float]]] = {
    "activator_request_concurrency": (
        "Requests in the gateway: holding a replica slot or queued",
        lambda v: v.concurrency,
    ),
    "sdserve_gateway_queue_length": (
        "Requests waiting in the gateway for a free slot", lambda v: v.queue
    ),
    "desired_pods": ("Replicas the autoscaler wants", lambda v: v.scale.get("desired", 0)),
    "requested_pods": ("Replicas asked of the runtime", lambda v: v.scale.get("desired", 0)),
    "actual_pods": ("Ready replicas", lambda v: v.count(ReplicaState.READY)),
    # A replica process not spawned yet is Knative's pending pod; a spawned one
    # that has not passed readiness is its not-ready pod.
    "pending_pods": (
        "Replicas starting, process not spawned yet",
        lambda v: sum(
            r.replica.state is ReplicaState.STARTING and r.replica.pid is None for r in v.replicas
        ),
    ),
    "not_ready_pods": (
        "Replicas starting, not ready yet",
        lambda v: sum(
            r.replica.state is ReplicaState.STARTING and r.replica.pid is not None
            for r in v.replicas
        ),
    ),
    "terminating_pods": ("Replicas draining", lambda v: v.count(ReplicaState.DRAINING)),
    "stable_request_concurrency": (
        "Average concurrency over the stable window",
        lambda v: v.scale.get("stable_concurrency", 0.0),
    ),
    "panic_request_concurrency": (
        "Average concurrency over the panic window",
        lambda v: v.scale.get("panic_concurrency", 0.0),
    ),
    "target_concurrency_per_pod": (
        "Per-replica concurrency the autoscaler aims for", lambda v: v.scale.get("target", 0.0)
    ),
    "excess_burst_capacity": (
        "Spare capacity over the target burst capacity (negative: gateway buffers)",
        lambda v: v.scale.get("excess_burst_capacity", 0.0),
    ),
    "panic_mode": ("1 while the autoscaler panics", lambda v: float(bool(v.scale.get("panic")))),
}


def _labels(view: ServiceView) -> list[str]:
    name = view.spec.name
    return [view.spec.namespace, name, name, name]


class GatewayCollector(Collector):
    def __init__(self, views: Callable[[], Sequence[ServiceView]]) -> None:
        self._views = views

    def collect(self) -> Iterator[Metric]:
        views = self._views()
        requests = CounterMetricFamily(
            "revision_request_count", "Requests answered, by response code", labels=CODE_LABELS
        )
        app_requests = CounterMetricFamily(
            "revision_app_request_count",
            "Requests answered by a replica, by response code",
            labels=CODE_LABELS,
        )
        latencies = HistogramMetricFamily(
            "revision_request_latencies", "Request latency in ms, by response code",
            labels=CODE_LABELS,
        )
        for view in views:
            labels = _labels(view)
            for status, count in sorted(view.stats.requests.items()):
                code = [*labels, str(status), code_class(status)]
                requests.add_metric(code, count)
                histogram = view.stats.latencies[status]
                latencies.add_metric(code, histogram.cumulative(), histogram.total_ms)
            for status, count in sorted(view.stats.app_requests.items()):
                app_requests.add_metric([*labels, str(status), code_class(status)], count)
        yield from (requests, app_requests, latencies)
        for name, (help_text, read) in GAUGES.items():
            gauge = GaugeMetricFamily(name, help_text, labels=LABELS)
            for view in views:
                gauge.add_metric(_labels(view), float(read(view)))
            yield gauge


def metrics_registry(views: Callable[[], Sequence[ServiceView]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(views))
    return registry
