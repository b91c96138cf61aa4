"""A replica stand-in that sleeps instead of generating images.

It speaks the slice of the AUTOMATIC1111 API the control plane touches
(txt2img, progress, interrupt, /healthz) and starts in a fraction of a second,
so gateway, autoscaler and runtime tests can run many replicas on two cores.
`GET /-/double/stats` lets a test check from the worker side that the gateway
never sent it more concurrent requests than it has slots.

Run: python -m sdserve.testing.sleep_worker [--port P] [--seconds S] [--load-seconds L]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# A valid 1x1 black RGB PNG, so clients that decode the image do not fail.
ONE_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC"
)
DEFAULT_SECONDS = 1.0
# Long enough for any test's in-flight requests to finish after SIGTERM.
SHUTDOWN_TIMEOUT = 600.0


@dataclass
class Job:
    started_at: float
    seconds: float


class SleepWorker:
    """The double's state: its counters, the running jobs, the interrupt signal."""

    def __init__(self, *, seconds: float, load_seconds: float, now: float) -> None:
        self.seconds = seconds
        self.ready_at = now + load_seconds
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self.jobs: list[Job] = []
        # Replaced after each interrupt, so it ends the jobs running then, not later ones.
        self.interrupted = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/sdapi/v1/txt2img", self.txt2img),
                web.get("/sdapi/v1/progress", self.progress),
                web.post("/sdapi/v1/interrupt", self.interrupt),
                web.post("/sdapi/v1/skip", self.interrupt),
                web.get("/healthz", self.healthz),
                web.get("/-/double/stats", self.stats),
            ]
        )
        return app

    async def txt2img(self, request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
            seconds = sleep_seconds(body, self.seconds)
        except ValueError as error:
            return unprocessable(str(error), body_field="sleep")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        job = Job(started_at=time.monotonic(), seconds=seconds)
        self.jobs.append(job)
        interrupted = self.interrupted
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(interrupted.wait(), timeout=seconds)
        finally:
            self.jobs.remove(job)
            self.in_flight -= 1
        self.served += 1
        return web.json_response(txt2img_response(body, seconds, pid=os.getpid()))

    async def progress(self, request: web.Request) -> web.Response:
        return web.json_response(progress_response(self.jobs, now=time.monotonic()))

    async def interrupt(self, request: web.Request) -> web.Response:
        self.interrupted.set()
        self.interrupted = asyncio.Event()
        return web.json_response({})

    async def healthz(self, request: web.Request) -> web.Response:
        if time.monotonic() < self.ready_at:
            return web.json_response({"status": "loading"}, status=503)
        return web.json_response({"status": "ok"})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "served": self.served,
                "pid": os.getpid(),
            }
        )


async def read_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as error:
        raise ValueError(f"body: not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object")
    return body


def sleep_seconds(body: dict[str, Any], default: float) -> float:
    """The request's `sleep` field overrides the worker's --seconds."""
    value = body.get("sleep", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"sleep: must be a number >= 0, got {value!r}")
    return float(value)


def unprocessable(message: str, *, body_field: str) -> web.Response:
    """FastAPI's 422 shape, as the real worker answers bad input."""
    detail = [{"loc": ["body", body_field], "msg": message, "type": "value_error"}]
    return web.json_response({"detail": detail}, status=422)


def txt2img_response(body: dict[str, Any], seconds: float, *, pid: int) -> dict[str, Any]:
    prompt = str(body.get("prompt", ""))
    seed = body.get("seed", -1)
    info = {
        "prompt": prompt,
        "all_prompts": [prompt],
        "negative_prompt": str(body.get("negative_prompt", "")),
        "seed": seed,
        "all_seeds": [seed],
        "width": 1,
        "height": 1,
        "sd_model_name": "sleep-worker",
        "infotexts": [f"{prompt}\nSteps: 0, Model: sleep-worker"],
        "slept_seconds": seconds,
        "pid": pid,
    }
    return {"images": [ONE_PIXEL_PNG], "parameters": body, "info": json.dumps(info)}


def progress_response(jobs: Sequence[Job], *, now: float) -> dict[str, Any]:
    if not jobs:
        fraction, eta = 0.0, 0.0
    else:
        job = jobs[0]
        elapsed = now - job.started_at
        fraction = min(1.0, elapsed / job.seconds) if job.seconds else 1.0
        eta = max(0.0, job.seconds - elapsed)
    return {
        "progress": fraction,
        "eta_relative": eta,
        "state": {
            "skipped": False,
            "interrupted": False,
            "job": "txt2img" if jobs else "",
            "job_count": len(jobs),
            "job_timestamp": "0",
            "job_no": 0,
            "sampling_step": 0,
            "sampling_steps": 0,
        },
        "current_image": None,
        "textinfo": None,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sdserve.testing.sleep_worker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7860")))
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="how long each txt2img request sleeps")
    parser.add_argument("--load-seconds", type=float, default=0.0,
                        help="/healthz answers 503 this long after start, as a model loads")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.seconds < 0 or args.load_seconds < 0:
        print("--seconds and --load-seconds must be >= 0", file=sys.stderr)
        return 2

    async def build() -> web.Application:
        # Built inside the running loop, so the worker's Event belongs to it.
        worker = SleepWorker(seconds=args.seconds, load_seconds=args.load_seconds,
                             now=time.monotonic())
        return worker.app()

    # run_app turns SIGTERM into a graceful exit: the listener closes at once,
    # in-flight requests finish (up to the timeout), then the process exits 0.
    web.run_app(build(), host=args.host, port=args.port, print=None,
                shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
