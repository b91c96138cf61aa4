from __future__ import annotations

import pytest

from sdserve.runtime.backoff import restart_delay


@pytest.mark.parametrize(
    ("crashes", "want"),
    [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (50, 30.0)],
)
def test_restart_delay_doubles_and_caps(crashes, want):
    assert restart_delay(crashes) == want
