"""`sdserve status` against a small real aiohttp server serving a canned /-/status."""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from sdserve import status as status_cli
from sdserve.cli import main

CANNED = {
    "services": [
        {
            "name": "stable-diffusion", "namespace": "default",
            "host": "stable-diffusion.default.example.com",
            "desired": 1, "ready": 1, "panic": False, "queue": 0,
            "stable_concurrency": 0.2, "panic_concurrency": 0.0, "target": 1.0,
            "replicas": [{"id": "stable-diffusion-0a1b2c", "state": "ready", "device": "cpu",
                          "in_flight": 0, "started_at": 1.0, "uptime": 61.0, "pid": 10}],
        }
    ]
}


def _serve(app: web.Application) -> Iterator[str]:
    """Run `app` on a free 127.0.0.1 port in a thread; yield its base URL."""
    import asyncio

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def _app(handler: web.Handler) -> web.Application:
    app = web.Application()
    app.router.add_get("/-/status", handler)
    return app


async def _canned(request: web.Request) -> web.Response:
    return web.json_response(CANNED)


@pytest.fixture
def gateway() -> Iterator[str]:
    yield from _serve(_app(_canned))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(url: str, *, watch: bool = False) -> argparse.Namespace:
    return argparse.Namespace(url=url, watch=watch, interval=0.1)


def test_prints_the_tables(gateway: str) -> None:
    out = io.StringIO()
    assert status_cli.run(_args(gateway), out=out) == 0
    assert out.getvalue() == status_cli.format_status(CANNED)
    assert "stable-diffusion-0a1b2c   ready   cpu      0           61s" in out.getvalue()


def test_trailing_slash_in_url(gateway: str) -> None:
    out = io.StringIO()
    assert status_cli.run(_args(gateway + "/"), out=out) == 0
    assert "stable-diffusion.default.example.com" in out.getvalue()


def test_unreachable_gateway_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["status", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach the gateway at {url}/-/status")


def test_http_error_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    for url in _serve(_app(broken)):
        assert status_cli.run(_args(url), out=io.StringIO()) == 1
    assert "answered HTTP 500" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "want"),
    [("<html>", "did not answer JSON"), ('{"services": 3}', 'without a "services" list')],
)
def test_bad_body_is_reported(body: str, want: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    for url in _serve(_app(odd)):
        assert status_cli.run(_args(url), out=io.StringIO()) == 1
    assert want in capsys.readouterr().err


def test_malformed_url_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", "nonsense"]) == 1
    assert "error: --url:" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_interval_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--interval", value])
    assert exit_info.value.code == 2
    assert "--interval" in capsys.readouterr().err


@pytest.mark.slow
def test_watch_redraws_in_place(gateway: str) -> None:
    command = [sys.executable, "-m", "sdserve", "status", "--watch", "--interval", "0.1",
               "--url", gateway]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        seen = ""
        while seen.count(status_cli.CLEAR_SCREEN) < 2:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, "sdserve status --watch ended early"
            seen += line
        process.terminate()
    assert seen.split(status_cli.CLEAR_SCREEN)[1] == status_cli.format_status(CANNED)
