"""The dashboard's files, served from a bare aiohttp app on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from sdserve.dashboard import add_routes
from tests.dashboard.conftest import serving


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application()
    add_routes(app)
    async with serving(app) as base:
        yield base


async def test_page_and_every_linked_file(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/-/dashboard") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            page = await response.text()
        links = re.findall(r'(?:src|href)="(/-/dashboard/[^"]+)"', page)
        assert sorted(links) == [
            "/-/dashboard/dashboard.js", "/-/dashboard/metrics.js",
            "/-/dashboard/style.css", "/-/dashboard/uPlot.iife.min.js",
            "/-/dashboard/uPlot.min.css",
        ]
        for link in links:
            async with http.get(url + link) as response:
                assert response.status == 200, link
                assert len(await response.read()) > 0
        # The vendored library ships with its licence.
        async with http.get(url + "/-/dashboard/uPlot.LICENSE.txt") as response:
            assert "MIT License" in await response.text()


async def test_trailing_slash_redirects_to_the_page(url: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/-/dashboard/", allow_redirects=False) as response,
    ):
        assert response.status == 308
        assert response.headers["Location"] == "/-/dashboard"


async def test_unknown_file_is_404_naming_it(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ["nope.js", "routes.py", "__init__.py"]:
            async with http.get(f"{url}/-/dashboard/{name}") as response:
                assert response.status == 404
                assert name in await response.text()
