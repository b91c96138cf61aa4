"""Gateway overhead on a cheap endpoint: direct vs. nginx vs. the sdserve gateway.

One upstream (the sleep-worker double's GET /healthz, an aiohttp server in its
own process) is called three ways with `hey`: directly, through nginx (a
minimal proxy config, keep-alive upstream), and through the gateway (its own
process, uvloop, access log on, as `sdserve serve` runs it). Reports p50
latency at concurrency 1 (added latency = proxy p50 - direct p50) and
requests/s at concurrency 32.

Run: .venv/bin/python bench/gateway.py [--requests N]
Goals (issue 3): added p50 <= 1 ms; gateway req/s >= 0.25 x nginx's.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream replica {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replica;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


@contextlib.contextmanager
def process(argv: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(ready_url)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def hey(url: str, *, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests/s, p50 ms) from one hey run."""
    out = subprocess.run(
        ["hey", "-n", str(requests), "-c", str(concurrency), url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000
    # hey gives each of its workers requests // concurrency requests.
    sent = requests // concurrency * concurrency
    errors = re.search(r"\[(\d+)\]\s+(\d+) responses", out)
    if errors is None or errors.group(1) != "200" or int(errors.group(2)) != sent:
        raise RuntimeError(f"not all {requests} answers were 200:\n{out}")
    return rps, p50


def serve_gateway(port: int, upstream_url: str, log_path: str) -> None:
    """The gateway alone, in this process, with one always-ready replica."""
    import uvloop
    from aiohttp import web

    from sdserve.gateway import Gateway
    from sdserve.runtime.replica import Replica, ReplicaState
    from sdserve.spec import ServiceSpec

    class NoScaler:
        def status(self, service: str) -> dict:
            return {}

    logging.basicConfig(level=logging.INFO, filename=log_path, format="%(message)s")
    spec = ServiceSpec(name="bench", container_concurrency=0)
    gateway = Gateway([spec], secret=b"bench", poke=lambda service: None,
                      scale_status=NoScaler())
    gateway.update_replica(Replica(id="bench-1", service="bench", url=upstream_url,
                                   device="cpu", state=ReplicaState.READY,
                                   started_at=time.monotonic()))
    uvloop.install()
    web.run_app(gateway.app(), host="127.0.0.1", port=port, print=None, access_log=None,
                handler_cancellation=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--serve-gateway", nargs=2, metavar=("PORT", "UPSTREAM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        port, upstream = args.serve_gateway
        serve_gateway(int(port), upstream, str(Path(tempfile.gettempdir()) / "gw-bench.log"))
        return 0

    upstream_port, nginx_port, gateway_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    path = "/healthz"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream_port, port=nginx_port))
        stack.enter_context(process(
            [sys.executable, "-m", "sdserve.testing.sleep_worker", "--port", str(upstream_port)],
            upstream + path))
        stack.enter_context(process(["nginx", "-c", str(conf), "-p", tmp],
                                    f"http://127.0.0.1:{nginx_port}{path}"))
        stack.enter_context(process(
            [sys.executable, __file__, "--serve-gateway", str(gateway_port), upstream],
            f"http://127.0.0.1:{gateway_port}{path}"))
        targets = {
            "direct": upstream,
            "nginx": f"http://127.0.0.1:{nginx_port}",
            "gateway": f"http://127.0.0.1:{gateway_port}",
        }
        rows = {}
        for name, base in targets.items():
            hey(base + path, requests=2000, concurrency=8)  # warm the pools
            _, p50 = hey(base + path, requests=args.requests // 4, concurrency=1)
            rps, _ = hey(base + path, requests=args.requests, concurrency=32)
            rows[name] = (p50, rps)
    print(f"{'path':<8} {'p50 ms (c=1)':>13} {'added p50 ms':>13} {'req/s (c=32)':>13}")
    for name, (p50, rps) in rows.items():
        added = p50 - rows["direct"][0]
        print(f"{name:<8} {p50:>13.2f} {added:>13.2f} {rps:>13.0f}")
    added = rows["gateway"][0] - rows["direct"][0]
    ratio = rows["gateway"][1] / rows["nginx"][1]
    print(f"gateway added p50: {added:.2f} ms (goal <= 1 ms): {_verdict(added <= 1)}")
    print(f"gateway/nginx req/s: {ratio:.2f} (goal >= 0.25): {_verdict(ratio >= 0.25)}")
    return 0


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
