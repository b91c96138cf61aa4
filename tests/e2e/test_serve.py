"""`sdserve serve` as a user runs it: one process, the seed's spec, real replica
processes. Replicas here are the sleep-worker double (generation is a timed
sleep), so the control plane is tested at its own speed; the real worker runs
in test_seed_scenario.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.conftest import SEED_YAML

pytestmark = pytest.mark.slow

SLEEP_WORKER = f"{sys.executable} -m sdserve.testing.sleep_worker --seconds 1"
SHORT = ("--set", "stable-window=6s", "--set", "scale-to-zero-grace-period=1s")


def test_first_request_after_idle_is_held_until_a_replica_is_ready(serve) -> None:
    server = serve("--worker-command", SLEEP_WORKER, *SHORT)
    server.wait_for(lambda s: s["ready"] == 1, timeout=30, what="the initial replica")
    server.wait_for(lambda s: not s["replicas"], timeout=60, what="scale to zero")

    started = time.monotonic()
    status, _, body = server.post_json("/sdapi/v1/txt2img", {"prompt": "pretty dog"})
    assert status == 200, body
    assert body["images"]
    # The seed's readiness probe waits 5 s before its first check: the request
    # was held through the whole cold start, not refused.
    assert time.monotonic() - started >= 5


def test_a_busy_replica_killed_with_sigkill_does_not_fail_its_request(serve) -> None:
    server = serve("--worker-command", SLEEP_WORKER, "--set", "min-scale=2",
                   "-f", str(SEED_YAML))
    server.wait_for(lambda s: s["ready"] >= 1, timeout=30, what="a ready replica")
    result: dict = {}

    def generate() -> None:
        result["answer"] = server.post_json("/sdapi/v1/txt2img", {"prompt": "x", "sleep": 3})

    client = threading.Thread(target=generate)
    client.start()
    busy = server.wait_for(lambda s: any(r["in_flight"] for r in s["replicas"]), timeout=10,
                           what="the request to reach a replica")
    victim = next(r for r in busy["replicas"] if r["in_flight"])
    os.kill(victim["pid"], signal.SIGKILL)
    client.join(timeout=60)
    status, _, body = result["answer"]
    assert status == 200, body
    # The runtime replaces the dead replica.
    server.wait_for(
        lambda s: s["ready"] >= 1 and victim["id"] not in {r["id"] for r in s["replicas"]},
        timeout=30, what="the dead replica to be replaced",
    )


def test_affinity_cookie_keeps_a_session_on_its_replica(serve) -> None:
    server = serve("--worker-command", SLEEP_WORKER, "--set", "min-scale=3")
    server.wait_for(lambda s: s["ready"] == 3, timeout=30, what="three ready replicas")
    status, headers, body = server.post_json("/sdapi/v1/txt2img", {"prompt": "x", "sleep": 0})
    assert status == 200
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("sd=") and "Max-Age=1800" in headers["Set-Cookie"]
    pids = set()
    for _ in range(6):
        _, _, body = server.post_json("/sdapi/v1/txt2img", {"prompt": "x", "sleep": 0},
                                      headers={"Cookie": cookie})
        pids.add(json.loads(body["info"])["pid"])
    assert len(pids) == 1


@pytest.mark.parametrize(("good", "bad", "named"), [
    ("maxScale: '10'", "maxScale: 'ten'", ("maxScale", "ten")),
    ("maxScale: '10'", "maxScale: '10'\n        serving.knative.dev/progress-deadline: 1.5s",
     ("progress-deadline", "1.5s")),
])
def test_bad_spec_is_an_error_naming_the_field(tmp_path, good, bad, named) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEED_YAML.read_text().replace(good, bad))
    result = subprocess.run([sys.executable, "-m", "sdserve", "serve", "-f", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert all(word in result.stderr for word in named)


def test_sdserve_status_lists_the_live_replicas(serve) -> None:
    server = serve("--worker-command", SLEEP_WORKER, "--set", "min-scale=2")
    live = server.wait_for(lambda s: s["ready"] == 2, timeout=30, what="two ready replicas")
    result = subprocess.run([sys.executable, "-m", "sdserve", "status", "--url", server.url],
                            capture_output=True, text=True, timeout=30, check=True)
    assert "stable-diffusion.default.example.com" in result.stdout
    for replica in live["replicas"]:
        assert re.search(rf"{replica['id']}\s+ready\s+cpu\s+0\s", result.stdout), result.stdout


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sdserve", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
