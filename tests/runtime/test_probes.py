from __future__ import annotations

import pytest

from sdserve.runtime.probes import ProbeRecord, Verdict, liveness_period, readiness_period
from sdserve.spec.types import Probe

SEED = Probe(kind="tcp", port=7860, initial_delay=5, period=1, failure_threshold=3)


def replay(results: list[bool], probe: Probe) -> Verdict:
    record = ProbeRecord()
    for ok in results:
        record = record.after(ok)
    return record.verdict(probe)


@pytest.mark.parametrize(
    ("label", "results", "probe", "want"),
    [
        ("nothing yet", [], SEED, Verdict.UNKNOWN),
        ("one success", [True], SEED, Verdict.PASSING),
        ("two failures", [False, False], SEED, Verdict.UNKNOWN),
        ("three failures", [False, False, False], SEED, Verdict.FAILING),
        ("success resets failures", [False, False, True, False, False], SEED, Verdict.UNKNOWN),
        ("failure resets successes", [True, False], SEED, Verdict.UNKNOWN),
        ("success threshold", [True], Probe(success_threshold=2), Verdict.UNKNOWN),
        ("success threshold met", [True, True], Probe(success_threshold=2), Verdict.PASSING),
        ("threshold 0 means 1", [False], Probe(failure_threshold=0), Verdict.FAILING),
    ],
)
def test_verdicts(label, results, probe, want):
    assert replay(results, probe) is want, label


def test_readiness_polls_fast_and_liveness_keeps_the_spec_pace():
    assert readiness_period(SEED) == 0.2
    assert readiness_period(Probe(period=0.05)) == 0.05
    assert readiness_period(SEED, poll=0.5) == 0.5
    assert liveness_period(SEED) == 1.0
