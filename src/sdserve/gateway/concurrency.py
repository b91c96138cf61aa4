"""Time-weighted average concurrency, as Knative's activator and queue-proxy report it.

The autoscaler samples once a second; between two samples the number of
requests in the gateway (holding a slot or waiting for one) changes many
times. The average weighs each level by how long it lasted, so a burst of
short requests counts as much as one long one of the same total duration.
"""

from __future__ import annotations


class ConcurrencyMeter:
    """Integrates a step function of time; `now` is always passed in."""

    def __init__(self, now: float) -> None:
        self._level = 0
        self._since = now  # when the level last changed (or was last sampled)
        self._window_start = now
        self._area = 0.0  # level × seconds accumulated in the current window

    @property
    def level(self) -> int:
        return self._level

    def change(self, delta: int, now: float) -> None:
        self._advance(now)
        self._level += delta

    def average(self, now: float) -> float:
        """The average since the previous call (or creation), then a new window starts."""
        self._advance(now)
        elapsed = now - self._window_start
        # Two samples at the same instant: the window is empty, the level is the answer.
        value = self._area / elapsed if elapsed > 0 else float(self._level)
        self._area = 0.0
        self._window_start = now
        return value

    def _advance(self, now: float) -> None:
        # A clock that steps back (a test's mistake or a caller mixing clocks)
        # must not subtract area.
        if now > self._since:
            self._area += self._level * (now - self._since)
            self._since = now
