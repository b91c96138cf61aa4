"""Which replica takes a request: the Knative activator's load-balancing policies.

Pure: candidates (replicas that have a free slot, in start order) in, one
choice out. The caller owns the round-robin cursor and the random source.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

# Up to this containerConcurrency the activator fills the first replica with a
# free slot: with so few slots, packing keeps the others free for new work.
FIRST_AVAILABLE_MAX_CONCURRENCY = 3


def choose_replica(
    candidates: Sequence[str],
    loads: Mapping[str, int],
    container_concurrency: int,
    *,
    cursor: int,
    rng: random.Random,
) -> tuple[str, int]:
    """Returns (replica id, next cursor). `candidates` must not be empty."""
    if not candidates:
        raise ValueError("candidates: at least one replica with a free slot is needed")
    if container_concurrency == 0:
        return _less_loaded_of_two(candidates, loads, rng), cursor
    if container_concurrency <= FIRST_AVAILABLE_MAX_CONCURRENCY:
        return candidates[0], cursor
    return candidates[cursor % len(candidates)], cursor + 1


def _less_loaded_of_two(
    candidates: Sequence[str], loads: Mapping[str, int], rng: random.Random
) -> str:
    if len(candidates) == 1:
        return candidates[0]
    first, second = rng.sample(list(candidates), 2)
    return second if loads.get(second, 0) < loads.get(first, 0) else first
