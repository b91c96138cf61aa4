"""What the HTTP layer adds to a generation: the same tiny-model 64×64, 20-step
txt2img, once through a real `sdserve worker` over HTTP and once by calling the
Engine directly, one request at a time, the two paths alternating call by call
so that both see the same machine load. Prints requests/s, latency percentiles
and the ratio (goal: HTTP adds under 5 %).

    .venv/bin/python bench/api_overhead.py [--requests 40] [--warmup 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx

REQUEST = {"prompt": "pretty dog", "width": 64, "height": 64, "steps": 20, "seed": 1234}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_interleaved(
    calls: dict[str, Callable[[], None]], requests: int, warmup: int
) -> dict[str, list[float]]:
    """Alternate the paths call by call, so both see the same machine load."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(requests):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            latencies[name].append(time.perf_counter() - started)
    return latencies


def direct_call() -> Callable[[], None]:
    from sdserve.engine import Engine
    from sdserve.engine.types import GenerationRequest
    from sdserve.worker.images import encode_png

    engine = Engine(device="cpu")
    engine.load("tiny")
    request = GenerationRequest(**REQUEST)

    def call() -> None:
        # The engine's own output includes the PNG the client needs.
        for image in engine.generate(request).images:
            encode_png(image)

    return call


@contextlib.contextmanager
def worker_call() -> Iterator[Callable[[], None]]:
    import torch

    port = free_port()
    # The worker computes with as many threads as the direct path does.
    env = {**os.environ, "SDSERVE_THREADS": str(torch.get_num_threads())}
    worker = subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)

            def call() -> None:
                client.post("/sdapi/v1/txt2img", json=REQUEST).raise_for_status()

            yield call
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def row(name: str, latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return (
        f"| {name} | {len(latencies) / sum(latencies):.2f} | "
        f"{statistics.mean(latencies) * 1000:.1f} | {q[49] * 1000:.1f} | {q[94] * 1000:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with worker_call() as http_call:
        latencies = measure_interleaved(
            {"direct": direct_call(), "http": http_call}, args.requests, args.warmup
        )
    engine_side, http_side = latencies["direct"], latencies["http"]
    print("| path | req/s | mean ms | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- | --- |")
    print(row("Engine.generate + PNG encode (direct)", engine_side))
    print(row("POST /sdapi/v1/txt2img (HTTP)", http_side))
    for name, stat in (("mean", statistics.mean), ("median", statistics.median)):
        ratio = stat(http_side) / stat(engine_side)
        print(f"HTTP / direct {name} latency: {ratio:.3f} (HTTP adds {(ratio - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
