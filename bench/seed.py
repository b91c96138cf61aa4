"""The seed's load test through `sdserve serve`, and the cold start from zero.

Starts `sdserve serve` with the seed's Service (windows shortened with
config-autoscaler keys, as a demo would), then:
1. cold start: waits until the service has scaled to zero, sends one request
   and, right after it, a warm one; cold start = first latency - warm latency,
   with the time the replica spent STARTING (process start, imports, model
   load, the seed's 5 s readiness delay) read from /-/status;
2. the seed's `hey -n 50 -c 5` run: total time against the ideal,
   50 x one warm request / 5 replicas.

With `--worker-command` the replicas are any A1111-compatible server, e.g. the
sleep-worker double, which isolates the control plane: a request is a fixed
sleep, so ideal and measured time differ only by routing and scaling.
On a CPU host, real replicas share the cores: with C cores the ideal is
50 x warm / min(5, C), which the table reports too.

Run: .venv/bin/python bench/seed.py [-f FILE] [--model tiny] [--worker-command CMD] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HOST = "stable-diffusion.default.example.com"
BODY = b'{"prompt": "pretty dog"}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_status(url: str) -> dict:
    with urllib.request.urlopen(url + "/-/status", timeout=5) as response:
        return json.load(response)["services"][0]


def wait_listening(url: str, timeout: float) -> None:
    """Until `sdserve serve` answers /-/status (it has just been started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            get_status(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_for(url: str, predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get_status(url)
        if predicate(status):
            return status
        time.sleep(0.1)
    raise TimeoutError(f"status never matched; last {status}")


def timed_request(url: str, body: bytes) -> float:
    request = urllib.request.Request(
        url + "/sdapi/v1/txt2img", data=body, method="POST",
        headers={"Content-Type": "application/json", "Host": HOST},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def starting_seconds(url: str, stop: threading.Event, out: dict) -> None:
    """How long the first replica stays STARTING, as /-/status shows it."""
    first_seen = None
    while not stop.is_set():
        replicas = get_status(url)["replicas"]
        if replicas and first_seen is None:
            first_seen = time.perf_counter()
        if any(r["state"] == "ready" for r in replicas) and first_seen is not None:
            out["starting_s"] = time.perf_counter() - first_seen
            return
        time.sleep(0.02)


def run_hey(url: str) -> tuple[float, str, list[int]]:
    seen_ready: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen_ready.append(get_status(url)["ready"])
            stop.wait(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    hey = subprocess.run(
        ["hey", "-n", "50", "-c", "5", "-t", "180", "-m", "POST",
         "-H", "Content-Type: application/json", "-host", HOST,
         "-d", BODY.decode(), url + "/sdapi/v1/txt2img"],
        capture_output=True, text=True, check=True,
    )
    total = time.perf_counter() - started
    stop.set()
    watcher.join()
    codes = re.search(r"Status code distribution:\s*(.*?)(\n\n|\Z)", hey.stdout, re.S)
    return total, (codes.group(1).strip() if codes else hey.stdout), seen_ready


def measure(url: str, args: argparse.Namespace) -> dict:
    wait_listening(url, 30)
    # Cold start from zero: let the initial replica come and go.
    wait_for(url, lambda s: s["ready"] == 1, 120)
    wait_for(url, lambda s: not s["replicas"], 120)
    stop, seen = threading.Event(), {}
    watcher = threading.Thread(target=starting_seconds, args=(url, stop, seen), daemon=True)
    watcher.start()
    cold = timed_request(url, BODY)
    stop.set()
    warm = min(timed_request(url, BODY) for _ in range(3))

    total, codes, seen_ready = run_hey(url)
    cores = os.cpu_count() or 1
    return {
        "replica": args.worker_command or f"sdserve worker --model {args.model}",
        "warm_request_s": round(warm, 3),
        "cold_request_s": round(cold, 3),
        "cold_start_added_s": round(cold - warm, 3),
        "replica_starting_s": round(seen.get("starting_s", float("nan")), 3),
        "hey_total_s": round(total, 2),
        "hey_ideal_s": round(50 * warm / 5, 2),
        "hey_over_ideal": round(total / (50 * warm / 5), 3),
        "hey_over_ideal_on_cores": round(total / (50 * warm / min(5, cores)), 3),
        "hey_status_codes": codes,
        "max_ready_replicas": max(seen_ready),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--worker-command")
    parser.add_argument("-f", "--file", help="Service YAML (default: the seed's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sdserve", "serve", "--port", str(port),
               "--model", args.model, "--set", "stable-window=6s",
               "--set", "scale-to-zero-grace-period=2s"]
    if args.worker_command:
        command += ["--worker-command", args.worker_command]
    if args.file:
        command += ["-f", args.file]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            result = measure(url, args)
        finally:
            server.terminate()
            server.wait(timeout=120)

    if args.json:
        print(json.dumps(result))
        return
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
