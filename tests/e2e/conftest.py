"""Start a real `sdserve serve` process and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED_YAML = REPO / "src" / "sdserve" / "spec" / "seed.yaml"
HOST = "stable-diffusion.default.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_tagged(tag: str) -> list[int]:
    """Live pids whose environment carries `tag`: the server and every child it started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if f"SDSERVE_TEST_TAG={tag}".encode() in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    tag: str
    log: BinaryIO

    def get_json(self, path: str, timeout: float = 5) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.load(response)

    def post_json(self, path: str, body: dict, headers: dict | None = None,
                  timeout: float = 120) -> tuple[int, dict, dict]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Host": HOST, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"{}")

    def service_status(self) -> dict:
        return self.get_json("/-/status")["services"][0]

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            status = self.service_status()
            if predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status: {status}")


def start_server(args: Sequence[str], tmp_path: Path) -> Server:
    port = free_port()
    tag = uuid.uuid4().hex
    log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "sdserve", "serve", "--port", str(port), *args],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "SDSERVE_TEST_TAG": tag},
    )
    server = Server(f"http://127.0.0.1:{port}", process, tag, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise AssertionError(f"sdserve serve exited: {Path(log.name).read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/-/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    raise AssertionError("sdserve serve did not start listening")


def stop_server(server: Server) -> None:
    """SIGINT, as Ctrl-C; then every process the server started must be gone."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
    server.log.close()
    deadline = time.monotonic() + 10
    while processes_tagged(server.tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_tagged(server.tag) == [], "sdserve left child processes behind"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start(*args: str) -> Server:
        server = start_server(args, tmp_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_server(server)
