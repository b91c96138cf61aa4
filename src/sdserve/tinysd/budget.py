"""Time-boxed training phases: each phase gets a share of the wall-time budget.

A phase iterates `steps(budget)` and reads how much of it is done, to anneal its
learning rate (`cosine`). `max_steps` caps every phase for smoke runs and for runs
that must land on the same weights whatever the machine's speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    seconds: float
    max_steps: int | None = None  # per phase, for smoke runs and reproducible runs
    min_steps: int = 0  # a phase whose result the next one cannot do without

    def share(self, fraction: float, min_steps: int = 0) -> Budget:
        floor = 0 if self.max_steps is not None else min_steps
        return Budget(self.seconds * fraction, self.max_steps, floor)


def steps(budget: Budget) -> Iterator[tuple[int, float]]:
    """(step, fraction of the phase done) until the phase's time or step budget runs out."""
    start = time.monotonic()
    step = 0
    while True:
        elapsed = time.monotonic() - start
        done = elapsed / budget.seconds if budget.seconds > 0 else 1.0
        if budget.max_steps is not None:
            done = max(done, step / budget.max_steps)
        if done >= 1.0 and step >= budget.min_steps:
            return
        yield step, min(done, 1.0)
        step += 1


def cosine(base: float, done: float) -> float:
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
