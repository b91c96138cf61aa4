"""bench/engine.py --quick --json runs end to end on the tiny model and prints the keys."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"
KEYS = ("baseline_fp32_s", "baseline_bf16_s", "sdserve_s", "sdserve_best_images_per_s",
        "flop_fraction", "psnr_db", "cold_start_healthz_s", "cold_start_first_image_s")


@pytest.mark.slow
def test_quick_json_prints_the_keys():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", "--runs", "1", "--batches", "1,2",
         "--steps", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(report[key], float), key
    assert report["cold_start_healthz_s"] <= report["cold_start_first_image_s"]
    for path in ("fast", "slow"):
        assert set(report[f"cold_start_phases_{path}"]) >= {"imports_s", "weight_load_s"}
