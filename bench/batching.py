"""Images per second through the gateway at containerConcurrency 1, 2 and 4: batching.

For each concurrency C, starts `sdserve serve` with the seed's Service changed in
two places only: containerConcurrency C, and minScale = maxScale = 1 so that one
replica serves every run and only the worker's batching differs. Then `hey` sends
compatible tiny txt2img requests with 2 x C clients, so the replica always holds
C requests and C more queue in the gateway. With C > 1 the worker runs the
requests that wait for its engine as one diffusers call.

Run: .venv/bin/python bench/batching.py [--model tiny] [--requests N] [--size PX]
     [--steps N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from seed import HOST, free_port, wait_for, wait_listening

# The seed's Service, as sdserve ships it (`sdserve serve` without -f serves it).
SEED_YAML = Path(__file__).resolve().parents[1] / "src" / "sdserve" / "spec" / "seed.yaml"
CONCURRENCIES = (1, 2, 4)
STARTUP_S = 120.0


def service_yaml(seed: dict, concurrency: int) -> str:
    """The seed's Service with containerConcurrency set and one replica, always."""
    template = seed["spec"]["template"]
    template["spec"]["containerConcurrency"] = concurrency
    annotations = template["metadata"]["annotations"]
    annotations["autoscaling.knative.dev/minScale"] = "1"
    annotations["autoscaling.knative.dev/maxScale"] = "1"
    return yaml.safe_dump(seed, sort_keys=False)


def hey_post(url: str, body: dict, *, requests: int, concurrency: int) -> dict:
    """One hey run of POST txt2img: requests/s, mean latency and the status codes."""
    out = subprocess.run(
        ["hey", "-n", str(requests), "-c", str(concurrency), "-t", "600", "-m", "POST",
         "-H", "Content-Type: application/json", "-host", HOST, "-d", json.dumps(body),
         url + "/sdapi/v1/txt2img"],
        check=True, capture_output=True, text=True,
    ).stdout
    answered = re.search(r"\[200\]\s+(\d+) responses", out)
    if answered is None:
        raise RuntimeError(f"no request answered 200:\n{out}")
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "mean_s": float(re.search(r"Average:\s+([\d.]+) secs", out).group(1)),
        "ok": int(answered.group(1)),
    }


def measure(seed: dict, concurrency: int, args: argparse.Namespace) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    body = {"prompt": "pretty dog", "width": args.size, "height": args.size,
            "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "service.yaml"
        spec.write_text(service_yaml(seed, concurrency))
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(
            [sys.executable, "-m", "sdserve", "serve", "-f", str(spec), "--port", str(port),
             "--model", args.model], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(url, STARTUP_S)
            wait_for(url, lambda s: s["ready"] == 1, STARTUP_S)
            # Warm up: first calls pay for lazy initialisation inside the replica.
            hey_post(url, body, requests=2 * concurrency, concurrency=2 * concurrency)
            run = hey_post(url, body, requests=args.requests, concurrency=2 * concurrency)
        finally:
            server.terminate()
            server.wait(timeout=120)
            log.close()
    images = run["requests_per_s"]  # one image per request
    return {"container_concurrency": concurrency, "hey_c": 2 * concurrency,
            "requests": args.requests, "ok": run["ok"], "images_per_s": round(images, 3),
            "mean_latency_s": round(run["mean_s"], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--requests", type=int, default=48,
                        help="requests per run (a multiple of 8 keeps every hey client busy)")
    parser.add_argument("--size", type=int, default=128, help="width and height (px)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(yaml.safe_load(SEED_YAML.read_text()), c, args) for c in CONCURRENCIES]
    base = rows[0]["images_per_s"]
    for row in rows:
        row["speedup"] = round(row["images_per_s"] / base, 2) if base else None
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| containerConcurrency | hey -c | ok | images/s | mean latency s | speed-up |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['container_concurrency']} | {r['hey_c']} | {r['ok']}/{r['requests']} "
              f"| {r['images_per_s']} | {r['mean_latency_s']} | {r['speedup']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
