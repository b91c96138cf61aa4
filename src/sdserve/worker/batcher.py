"""Which waiting generation jobs run next, together: pure, the queue in, one group out.

When a replica serves more than one request at once (containerConcurrency > 1),
requests arrive while the engine is busy. Once it is free, the oldest waiting job
runs next (first in, first out), together with every later job that can share its
diffusers call, as long as one round (one call) stays within `max_images` images.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    key: Hashable | None  # jobs with equal keys can share a call; None: this job runs alone
    images: int  # images it adds to each round (its batch_size)


def next_group(waiting: Sequence[Waiting], max_images: int) -> list[int]:
    """Indexes (into `waiting`, oldest first) of the jobs to run next as one pass."""
    if not waiting:
        return []
    first = waiting[0]
    group, images = [0], first.images
    if first.key is None:
        return group
    for index, job in enumerate(waiting[1:], start=1):
        if job.key == first.key and images + job.images <= max_images:
            group.append(index)
            images += job.images
    return group
