"""Serve the dashboard from an aiohttp app: the page at `/-/dashboard`, its files under
`/-/dashboard/`. The page reads the gateway's `/-/status` and `/-/metrics` itself.

uPlot (MIT, https://github.com/leeoniya/uPlot, v1.6.32 from the npm registry) is
vendored beside these files with its LICENSE, so the page works with no internet.
"""

from __future__ import annotations

from aiohttp import web

from sdserve import static_files

PATH = "/-/dashboard"
PAGE = "index.html"


def _response(files: dict[str, static_files.StaticFile], name: str) -> web.Response:
    file = files[name]
    return web.Response(body=file.body, content_type=file.content_type, charset="utf-8",
                        headers=static_files.HEADERS)


def add_routes(app: web.Application) -> None:
    """Add `GET /-/dashboard` (the page) and `GET /-/dashboard/{name}` (its files) to `app`."""
    files = static_files.load(__package__)

    async def page(request: web.Request) -> web.Response:
        return _response(files, PAGE)

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound(text=f"no dashboard file named {name!r}")
        return _response(files, name)

    async def to_page(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(PATH)

    app.router.add_get(PATH, page)
    app.router.add_get(PATH + "/", to_page)
    app.router.add_get(PATH + "/{name}", asset)
