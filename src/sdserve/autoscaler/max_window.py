"""The largest value recorded over the last `duration` seconds, in 2 s buckets.

This is the scale-down-delay window of Knative's KPA
(pkg/autoscaler/aggregation/max): a descending list of maxima, each tagged with
its bucket, so the current maximum is always the head. It is immutable, so it
can live in the autoscaler's state: `record` returns a new window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DELAY_GRANULARITY = 2.0  # Knative's tick interval


@dataclass(frozen=True)
class MaxWindow:
    buckets: int
    granularity: float = DELAY_GRANULARITY
    # (bucket index, value), values strictly descending, indexes ascending.
    maxima: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, duration: float, granularity: float = DELAY_GRANULARITY) -> MaxWindow:
        return cls(buckets=max(1, math.ceil(duration / granularity)), granularity=granularity)

    def record(self, now: float, value: int) -> MaxWindow:
        index = math.floor(now / self.granularity)
        # A new value hides every older one that is not larger.
        kept = [entry for entry in self.maxima if entry[1] > value]
        # Drop what has slid out of the window.
        kept = [entry for entry in kept if index - entry[0] < self.buckets]
        if kept and kept[-1][0] == index:  # same bucket: keep its larger value
            value = max(value, kept.pop()[1])
        return MaxWindow(self.buckets, self.granularity, (*kept, (index, value)))

    @property
    def current(self) -> int:
        return self.maxima[0][1] if self.maxima else 0
