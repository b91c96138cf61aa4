"""bench/scale_from_zero.py --model tiny --repeat 1 --json runs end to end, standby on and
off, reading the standby's state from /-/status, and prints every key."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale_from_zero.py"
KEYS = {"cold_s", "warm_s", "added_s", "to_start_s", "start_to_ready_s"}


@pytest.mark.slow
def test_tiny_json_prints_the_keys():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--model", "tiny", "--repeat", "1", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["model"], report["repeat"]) == ("tiny", 1)
    for mode in ("standby_on", "standby_off"):
        (run,) = report[mode]["runs"]
        assert set(run) == KEYS, mode
        assert set(report[mode]["median"]) == KEYS, mode
        assert run["cold_s"] > 0 and run["warm_s"] > 0, (mode, run)
