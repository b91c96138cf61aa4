"""Readiness and liveness verdicts from probe results (pure; the checks are in checks.py).

A replica is READY after the Service's readiness probe passes and then the
worker's own `GET /healthz` answers 200 (the model is loaded). Once ready, the same
probe keeps watching it: `failureThreshold` failures in a row mean it stopped
answering, and it is replaced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sdserve.spec.types import Probe

# Locally a start is seen within this, whatever the spec's periodSeconds says
# (a cluster probe of 1 s would add up to a second to every cold start).
READINESS_POLL = 0.2

# Knative gives a container without a readinessProbe a TCP probe on its port.
DEFAULT_PROBE = Probe(kind="tcp", period=1.0, timeout=1.0, failure_threshold=3)


class Verdict(str, enum.Enum):
    UNKNOWN = "unknown"
    PASSING = "passing"
    FAILING = "failing"


@dataclass(frozen=True)
class ProbeRecord:
    """Consecutive results of one probe, as the kubelet counts them."""

    successes: int = 0
    failures: int = 0

    def after(self, ok: bool) -> ProbeRecord:
        if ok:
            return ProbeRecord(successes=self.successes + 1, failures=0)
        return ProbeRecord(successes=0, failures=self.failures + 1)

    def verdict(self, probe: Probe) -> Verdict:
        if self.successes >= max(1, probe.success_threshold):
            return Verdict.PASSING
        if self.failures >= max(1, probe.failure_threshold):
            return Verdict.FAILING
        return Verdict.UNKNOWN


def readiness_period(probe: Probe, poll: float = READINESS_POLL) -> float:
    return max(0.01, min(probe.period, poll))


def liveness_period(probe: Probe) -> float:
    """Once ready, probe at the spec's own pace: a busy CPU must not look like death."""
    return max(0.01, probe.period)
