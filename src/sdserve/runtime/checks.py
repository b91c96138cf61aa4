"""The probes' I/O: a TCP connect and an HTTP GET against a replica on loopback."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from sdserve.spec.types import Probe


async def tcp_open(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def http_status(session: aiohttp.ClientSession, url: str, timeout: float) -> int | None:
    """The response code, or None when nothing answered in time."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return response.status
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return None


async def run_probe(session: aiohttp.ClientSession, probe: Probe, host: str, port: int) -> bool:
    """One probe against the replica's actual port: the spec's port names the container
    port, and a local replica has exactly one, the PORT we gave it."""
    if probe.kind == "http":
        path = probe.path if probe.path.startswith("/") else f"/{probe.path}"
        status = await http_status(session, f"http://{host}:{port}{path}", probe.timeout)
        # The kubelet's rule for httpGet: any 2xx or 3xx passes.
        return status is not None and 200 <= status < 400
    return await tcp_open(host, port, probe.timeout)
