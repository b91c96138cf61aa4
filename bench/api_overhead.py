"""What the HTTP layer adds to a generation: the same tiny-model 64×64, 20-step
txt2img, once through a real `sdserve worker` over HTTP and once by calling the
Engine directly, one request at a time. Prints requests/s, latency percentiles
and the ratio (goal: HTTP adds under 5 %).

    .venv/bin/python bench/api_overhead.py [--requests 40] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

REQUEST = {"prompt": "pretty dog", "width": 64, "height": 64, "steps": 20, "seed": 1234}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(call: Callable[[], None], requests: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def direct(requests: int, warmup: int) -> list[float]:
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

    return measure(call, requests, warmup)


def through_http(requests: int, warmup: int) -> list[float]:
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env={**os.environ},
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

            return measure(call, requests, warmup)
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
    engine_side = direct(args.requests, args.warmup)
    http_side = through_http(args.requests, args.warmup)
    print("| path | req/s | mean ms | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- | --- |")
    print(row("Engine.generate + PNG encode (direct)", engine_side))
    print(row("POST /sdapi/v1/txt2img (HTTP)", http_side))
    overhead = statistics.mean(http_side) / statistics.mean(engine_side) - 1
    print(f"\nHTTP / direct mean latency: {1 + overhead:.3f} (HTTP adds {overhead * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
