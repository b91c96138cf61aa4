"""Per-second buckets of observed concurrency and their window average.

The behaviour of Knative's `TimedFloat64Buckets` (pkg/autoscaler/aggregation):
values recorded in the same bucket add up (several sources report into one
second); a window with data for less than its length averages over the seconds
since the first write; seconds after the last write push old buckets out
without counting themselves; nothing written for a whole window reads 0. Time is an argument.
"""

from __future__ import annotations

import math


class TimedBuckets:
    def __init__(self, window: float, granularity: float = 1.0) -> None:
        self._granularity = granularity
        self._window = window
        self._buckets = [0.0] * max(1, math.ceil(window / granularity))
        self._total = 0.0
        self._first: int | None = None  # bucket index of the first write in this run
        self._last: int | None = None   # bucket index of the latest write

    def _index(self, now: float) -> int:
        return math.floor(now / self._granularity)

    @property
    def _length(self) -> int:
        return len(self._buckets)

    def _window_buckets(self) -> float:
        return self._window / self._granularity

    def record(self, now: float, value: float) -> None:
        index = self._index(now)
        if self._last is None or index - self._last >= self._window_buckets():
            # First write, or nothing for a whole window: start afresh.
            self._buckets = [0.0] * self._length
            self._total = 0.0
            self._first = self._last = index
        elif index + self._window_buckets() <= self._last:
            return  # older than the window we still hold
        elif index > self._last:
            for stale in range(self._last + 1, index + 1):
                slot = stale % self._length
                self._total -= self._buckets[slot]
                self._buckets[slot] = 0.0
            self._last = index
        elif self._first is not None and index < self._first:
            self._first = index
        self._buckets[index % self._length] += value
        self._total += value

    def window_average(self, now: float) -> float:
        if self._last is None or self._first is None:
            return 0.0
        index = self._index(now)
        behind = index - self._last
        if behind >= self._window_buckets():
            return 0.0
        total = self._total
        for stale in range(self._last + 1, index + 1):
            total -= self._buckets[stale % self._length]
        # Seconds that have data: from the first write, at most the window.
        seconds = min(self._last - self._first + 1, self._length - max(0, behind))
        # Concurrency is never negative, but the running total can drift just below zero
        # once its values have left the window (0.1 + 0.7 + 0.1, taken off again): -0.0.
        return max(0.0, round(total / seconds, 6))
