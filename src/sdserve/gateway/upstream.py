"""Talking to replicas: one keep-alive connection pool (aiohttp client) for all.

Bodies up to BUFFER_LIMIT are read whole (so a request can be sent again to
another replica when the first refuses it); larger ones stream through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import StreamReader
from multidict import CIMultiDict

from sdserve.gateway.headers import REQUEST_ID

log = logging.getLogger("sdserve.gateway")

# Bodies and responses up to this size are buffered; A1111 JSON bodies
# (a prompt, a few 512×512 PNGs in base64) fit, a batch of large images streams.
BUFFER_LIMIT = 1 << 20
INTERRUPT_TIMEOUT_SECONDS = 5.0


class UpstreamUnavailable(Exception):
    """The replica refused or dropped the connection before answering."""


class UpstreamFailed(Exception):
    """The replica answered something that is not HTTP."""


@dataclass
class RequestBody:
    prefix: bytes
    rest: StreamReader | None  # None: `prefix` is the whole body

    @property
    def replayable(self) -> bool:
        return self.rest is None

    def payload(self) -> bytes | AsyncIterator[bytes]:
        return self.prefix if self.rest is None else self._stream(self.rest)

    async def _stream(self, rest: StreamReader) -> AsyncIterator[bytes]:
        yield self.prefix
        async for chunk in rest.iter_any():
            yield chunk


async def read_body(content: StreamReader) -> RequestBody:
    chunks: list[bytes] = []
    size = 0
    while size < BUFFER_LIMIT:
        chunk = await content.read(BUFFER_LIMIT - size)
        if not chunk:
            return RequestBody(b"".join(chunks), None)
        chunks.append(chunk)
        size += len(chunk)
    return RequestBody(b"".join(chunks), content)


class Upstream:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=None),
            # Bytes pass through untouched, with only the client's own headers.
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not awaited (the app's startup does it)")
        return self._session

    async def send(
        self,
        base_url: str,
        method: str,
        path_qs: str,
        headers: CIMultiDict[str],
        body: RequestBody | None,
    ) -> aiohttp.ClientResponse:
        """The replica's response, headers read and body not yet."""
        try:
            return await self.session.request(
                method,
                base_url + path_qs,
                headers=headers,
                data=None if body is None else body.payload(),
                allow_redirects=False,
            )
        except aiohttp.ClientConnectionError as error:
            raise UpstreamUnavailable(f"{type(error).__name__}: {error}") from error
        except aiohttp.ClientError as error:
            raise UpstreamFailed(f"{type(error).__name__}: {error}") from error

    async def interrupt(self, base_url: str, request_id: str) -> None:
        """POST /sdapi/v1/interrupt for a job nobody waits for any more; best effort."""
        try:
            async with self.session.post(
                base_url + "/sdapi/v1/interrupt",
                headers={REQUEST_ID: request_id},
                timeout=aiohttp.ClientTimeout(total=INTERRUPT_TIMEOUT_SECONDS),
            ) as response:
                await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.warning("interrupt of %s on %s failed: %s", request_id, base_url, error)
