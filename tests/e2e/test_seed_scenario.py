"""The seed's proof, end to end: its YAML, real tiny-model workers, and `hey`.

`hey -n 50 -c 5 -t 180 -m POST -d '{"prompt": "pretty dog"}' .../sdapi/v1/txt2img`
must answer 50 × 200 while the service scales to 5 replicas, then back to 0.
Windows are shortened through config-autoscaler keys, as a demo would.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest

from tests.e2e.conftest import HOST, SEED_YAML

pytestmark = pytest.mark.slow

SHORT_WINDOWS = ("--set", "stable-window=6s", "--set", "scale-to-zero-grace-period=2s")


@pytest.mark.skipif(shutil.which("hey") is None, reason="needs `hey` (apt-get install hey)")
def test_hey_50_requests_scale_to_five_then_zero(serve) -> None:
    server = serve("-f", str(SEED_YAML), *SHORT_WINDOWS)
    seen_ready: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            status = server.service_status()
            seen_ready.append(status["ready"])
            assert all(r["in_flight"] <= 1 for r in status["replicas"]), status
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    hey = subprocess.run(
        ["hey", "-n", "50", "-c", "5", "-t", "180", "-m", "POST",
         "-H", "Content-Type: application/json", "-host", HOST,
         "-d", '{"prompt": "pretty dog"}', f"{server.url}/sdapi/v1/txt2img"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    done.set()
    watcher.join()
    assert re.search(r"\[200\]\s+50 responses", hey.stdout), hey.stdout
    assert max(seen_ready) == 5, seen_ready
    server.wait_for(lambda s: s["ready"] == 0 and not s["replicas"], timeout=60,
                    what="scale to zero after the idle period")
