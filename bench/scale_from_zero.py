"""What a scale from zero adds to a request through the gateway, with the warm standby on and off.

Runs `sdserve serve -f` on a Service shaped like the seed's (cookie affinity,
KPA, containerConcurrency 1) with minScale 0, maxScale 1, initial scale 0 and
short windows (stable window 6 s, scale-to-zero grace 1 s), and the seed's TCP
readiness probe without its 5 s initialDelaySeconds (that delay is the
manifest's choice, not a start-up cost). Then, per repetition:
  1. waits until /-/status shows no replica (and, standby on, its standby "ready");
  2. sends one request: the gateway holds it while a replica starts (cold);
  3. sends one more at once (warm); cold - warm = what scale from zero adds;
and reads from /-/status when the replica started (spawn or hand-over) and how
long it took to READY, as the gateway saw it (0.2 s readiness polls); medians
are per column, so the columns need not add up.
Both modes run in one invocation; goal: adds <= 1.5 s, standby start -> ready <= 1 s.

    .venv/bin/python bench/scale_from_zero.py [--model tiny|sd15] [--repeat 3]
                                              [--threads N] [--json]

sd15 is bench/engine.py's SD 1.5 architecture with random weights (fp16 single
file), at 256x256 and 4 steps; tiny is the shipped model at 64x64. Threads: the
runtime's share (cores // maxScale) unless --threads sets SDSERVE_THREADS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from seed import free_port, get_status, timed_request, wait_for, wait_listening

REPO = Path(__file__).resolve().parent.parent
SEED_YAML = REPO / "src" / "sdserve" / "spec" / "seed.yaml"
SHORT_WINDOWS = ("--set", "stable-window=6s", "--set", "scale-to-zero-grace-period=1s",
                 "--set", "allow-zero-initial-scale=true", "--set", "initial-scale=0")
REQUESTS = {
    "tiny": {"width": 64, "height": 64, "steps": 4},
    "sd15": {"width": 256, "height": 256, "steps": 4},
}
PROMPT = "a photograph of an astronaut riding a horse on the moon"
STATUS_POLL_S = 0.02
START_TIMEOUT_S = 60
SCALE_TIMEOUT_S = 300


def service_yaml(folder: Path) -> Path:
    """The seed's Service with the one-replica, scale-to-zero settings of this bench."""
    service = yaml.safe_load(SEED_YAML.read_text())
    template = service["spec"]["template"]
    template["metadata"]["annotations"].update({
        "autoscaling.knative.dev/minScale": "0",
        "autoscaling.knative.dev/maxScale": "1",
    })
    template["spec"]["containerConcurrency"] = 1
    template["spec"]["containers"][0]["readinessProbe"]["initialDelaySeconds"] = 0
    path = folder / "scale-from-zero.yaml"
    path.write_text(yaml.safe_dump(service, sort_keys=False))
    return path


def model_path(name: str) -> str:
    if name == "tiny":
        return "tiny"
    from engine import full_checkpoint  # bench/engine.py: builds the file once, then caches it

    return str(full_checkpoint())


def scaled_to_zero(status: dict, standby: bool) -> bool:
    """No replica left and, standby on, the standby warm, as /-/status reports them."""
    if status["replicas"]:
        return False
    if not standby:
        return True
    state = status["standby"]["state"]
    if state == "disabled":
        raise RuntimeError("/-/status reports the standby disabled under --standby")
    return state == "ready"


def watch_start(url: str, sent: float, stop: threading.Event, out: dict) -> None:
    """From the request's send to the replica's start (its started_at: spawn or hand-over,
    on the monotonic clock the server shares with us), and from there until /-/status
    first shows it READY."""
    while not stop.is_set():
        ready = [r for r in get_status(url)["replicas"] if r["state"] == "ready"]
        if ready:
            out["to_start_s"] = ready[0]["started_at"] - sent
            out["start_to_ready_s"] = time.monotonic() - ready[0]["started_at"]
            return
        time.sleep(STATUS_POLL_S)


def once(url: str, body: bytes) -> dict:
    stop, seen = threading.Event(), {}
    sent = time.monotonic()
    watcher = threading.Thread(target=watch_start, args=(url, sent, stop, seen), daemon=True)
    watcher.start()
    cold = timed_request(url, body)
    stop.set()
    watcher.join()
    warm = timed_request(url, body)
    return {"cold_s": cold, "warm_s": warm, "added_s": cold - warm,
            "to_start_s": seen.get("to_start_s", float("nan")),
            "start_to_ready_s": seen.get("start_to_ready_s", float("nan"))}


def run_mode(args: argparse.Namespace, model: str, spec: Path, standby: bool, log) -> list[dict]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sdserve", "serve", "-f", str(spec), "--port", str(port),
               "--model", model, "--standby" if standby else "--no-standby", *SHORT_WINDOWS]
    env = dict(os.environ)
    if args.threads:
        env.update(SDSERVE_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    body = json.dumps({"prompt": PROMPT, "seed": 1234, **REQUESTS[args.model]}).encode()
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(url, START_TIMEOUT_S)
        runs = []
        for _ in range(args.repeat):
            wait_for(url, lambda s: scaled_to_zero(s, standby), SCALE_TIMEOUT_S)
            runs.append(once(url, body))
        return runs
    finally:
        server.terminate()
        server.wait(timeout=120)


def summary(runs: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def markdown(result: dict) -> str:
    lines = [
        f"model {result['model']}, {result['request']}, threads {result['threads']}, "
        f"median of {result['repeat']}",
        "",
        "| standby | first request after zero (s) | warm request (s) "
        "| scale from zero adds (s) | request -> replica start (s) "
        "| replica start -> ready (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode in ("on", "off"):
        m = result["standby_" + mode]["median"]
        lines.append(f"| {mode} | {m['cold_s']:.2f} | {m['warm_s']:.2f} | {m['added_s']:.2f} "
                     f"| {m['to_start_s']:.2f} | {m['start_to_ready_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(REQUESTS), default="tiny")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int,
                        help="SDSERVE_THREADS (default: the runtime's share)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: must be at least 1")

    model = model_path(args.model)
    result = {"model": args.model, "request": REQUESTS[args.model], "repeat": args.repeat,
              "threads": args.threads or "runtime share"}
    with tempfile.TemporaryDirectory() as folder:
        spec = service_yaml(Path(folder))
        with open(Path(folder) / "serve.log", "wb") as log:
            try:
                for standby in (True, False):
                    runs = run_mode(args, model, spec, standby, log)
                    result["standby_" + ("on" if standby else "off")] = {
                        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
                        "median": summary(runs),
                    }
            except (TimeoutError, OSError, AssertionError):
                sys.stderr.write((Path(folder) / "serve.log").read_text(errors="replace")[-4000:])
                raise
    print(markdown(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
