"""Request counters and the latency histogram a service accumulates.

Plain counters updated on the request path (cheap); `metrics.py` turns them
into Prometheus families at scrape time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

# Knative's request-latency buckets in ms, extended to the 300 s default
# timeoutSeconds, since one Stable Diffusion request can take minutes.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800,
    900, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 300000,
)


@dataclass
class LatencyHistogram:
    # One count per bucket of LATENCY_BUCKETS_MS plus the +Inf bucket (not cumulative).
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    total_ms: float = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
        self.total_ms += ms

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (upper bound, count of observations <= it)."""
        bounds = [*(f"{b:g}" for b in LATENCY_BUCKETS_MS), "+Inf"]
        running, out = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass
class RequestStats:
    requests: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # Responses that came from a replica (the app), as opposed to the gateway's own 5xx.
    app_requests: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    latencies: dict[int, LatencyHistogram] = field(
        default_factory=lambda: defaultdict(LatencyHistogram)
    )

    def record(self, status: int, latency_ms: float, *, from_app: bool) -> None:
        self.requests[status] += 1
        self.latencies[status].observe(latency_ms)
        if from_app:
            self.app_requests[status] += 1


def code_class(status: int) -> str:
    return f"{status // 100}xx"
