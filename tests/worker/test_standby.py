"""`sdserve worker --standby`: the hand-over message (a table), and real standby
processes that become a replica, refuse a bad message, leave when stdin closes, or
hash their single-file model before the hand-over."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from sdserve.engine.sources import SHIPPED_DIR
from sdserve.worker.standby import READY_LINE, Handover, HandoverError, parse_handover
from tests.worker.conftest import FAST, free_port, wait_until

ENV = {"HOME": "/home/u", "HF_HOME": "/data/huggingface"}


@pytest.mark.parametrize(
    ("message", "want"),
    [
        ({"port": 8123}, Handover(port=8123, env={"PORT": "8123"})),
        (
            {"port": 1, "env": {"SDSERVE_DEVICE": "cpu", "PORT": "1"}, "replica": "sd-1"},
            Handover(port=1, env={"SDSERVE_DEVICE": "cpu", "PORT": "1"}, replica="sd-1"),
        ),
        # Unchanged import-time variables may be repeated.
        ({"port": 9, "env": {"HF_HOME": "/data/huggingface"}},
         Handover(port=9, env={"HF_HOME": "/data/huggingface", "PORT": "9"})),
    ],
)
def test_good_messages(message, want):
    assert parse_handover(json.dumps(message), ENV) == want


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("not json", "message"),
        ("[1, 2]", "message"),
        ("", "message"),
        ('{"env": {}}', "port"),
        ('{"port": "8123"}', "port"),
        ('{"port": true}', "port"),
        ('{"port": 0}', "port"),
        ('{"port": 70000}', "port"),
        ('{"port": 1, "env": []}', "env"),
        ('{"port": 1, "env": {"A": 1}}', "env"),
        ('{"port": 1, "env": {"PORT": "2"}}', "env.PORT"),
        ('{"port": 1, "env": {"HF_HOME": "/elsewhere"}}', "env.HF_HOME"),
        ('{"port": 1, "env": {"SDSERVE_DATA_DIR": "/elsewhere"}}', "env.SDSERVE_DATA_DIR"),
        ('{"port": 1, "replica": 7}', "replica"),
        ('{"port": 1, "colour": "red"}', "colour"),
    ],
)
def test_bad_messages_name_the_field(line, field):
    with pytest.raises(HandoverError, match=rf"^{field}:"):
        parse_handover(line, ENV)


def spawn_standby(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sdserve", "worker", "--standby", "--host", "127.0.0.1", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if k != "PORT"},
    )


def send(proc: subprocess.Popen, text: str) -> None:
    proc.stdin.write(text)
    proc.stdin.close()


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    """Wait for the exit; everything it wrote on stdout and stderr."""
    proc.wait(timeout=60)
    return proc.stdout.read(), proc.stderr.read()


@contextlib.contextmanager
def warm_standby(*args: str) -> Iterator[subprocess.Popen]:
    """A standby that has printed its ready line; killed on the way out if still running."""
    proc = spawn_standby(*args)
    try:
        assert proc.stdout.readline().strip() == READY_LINE
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


@pytest.fixture
def standby() -> Iterator[subprocess.Popen]:
    with warm_standby() as proc:
        yield proc


def wait_healthy(proc: subprocess.Popen, url: str) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, "the standby exited instead of serving"
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=120)


@pytest.mark.slow
def test_standby_becomes_a_replica_and_serves_txt2img(standby):
    port = free_port()
    message = {"port": port, "env": {"SDSERVE_THREADS": "1"}, "replica": "sd-test"}
    send(standby, json.dumps(message) + "\n")
    url = f"http://127.0.0.1:{port}"
    wait_healthy(standby, url)
    response = httpx.post(f"{url}/sdapi/v1/txt2img", json=FAST, timeout=120)
    assert response.status_code == 200
    assert len(response.json()["images"]) == 1
    standby.terminate()  # SIGTERM: an ordinary worker's clean exit
    out, _ = finish(standby)
    assert standby.returncode == 0
    assert "is now replica sd-test" in out


@pytest.mark.slow
def test_bad_message_is_a_clear_error_and_exit_2(standby):
    send(standby, '{"port": "eighty"}\n')
    _, err = finish(standby)
    assert standby.returncode == 2
    assert "sdserve worker: standby: port: expected a TCP port" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_stdin_closed_before_a_message_exits_0_quietly(standby):
    send(standby, "")
    out, err = finish(standby)
    assert standby.returncode == 0
    assert (out, err) == ("", "")


def same_size_and_mtime_twin(path):
    """Swap `path` for a new file (a new inode) of the same size and mtime whose last
    weight differs in one low bit: the Hasher's key (path, size, mtime) cannot tell
    them apart, so only a hash read from the old file can still name the old content."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    twin = path.with_suffix(".twin")
    twin.write_bytes(data)
    os.utime(twin, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(twin, path)


@pytest.mark.slow
def test_standby_hashes_a_single_file_model_before_the_hand_over(tmp_path):
    # With its folder, whose configs describe the tiny architecture.
    shutil.copytree(SHIPPED_DIR / "tiny", tmp_path / "tiny")
    model = tmp_path / "tiny" / "tiny.safetensors"
    before = hashlib.sha256(model.read_bytes()).hexdigest()
    with warm_standby("--model", str(model)) as proc:
        # Ready: the hash thread opened the file during warm-up, so it reads the old
        # inode whatever lies at the path from now on.
        same_size_and_mtime_twin(model)
        assert hashlib.sha256(model.read_bytes()).hexdigest() != before
        port = free_port()
        send(proc, json.dumps({"port": port, "env": {"SDSERVE_THREADS": "1"}}) + "\n")
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url)
        listed = httpx.get(f"{url}/sdapi/v1/sd-models", timeout=10).json()
        proc.terminate()
    assert [m["sha256"] for m in listed if m["filename"] == str(model)] == [before]
