"""How long to wait before replacing a replica that crashed."""

from __future__ import annotations

FIRST_DELAY = 1.0
MAX_DELAY = 30.0


def restart_delay(consecutive_crashes: int) -> float:
    """1 s after the first crash, doubling with each crash in a row, capped at 30 s."""
    if consecutive_crashes <= 0:
        return 0.0
    return min(MAX_DELAY, FIRST_DELAY * 2 ** (consecutive_crashes - 1))
