"""Serve the dashboard from an aiohttp app: the page at `/-/dashboard`, its files under
`/-/dashboard/`. The page reads the gateway's `/-/status` and `/-/metrics` itself.

uPlot (MIT, https://github.com/leeoniya/uPlot, v1.6.32 from the npm registry) is
vendored beside these files with its LICENSE, so the page works with no internet.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

PATH = "/-/dashboard"
PAGE = "index.html"
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
}
# The page and its assets change with sdserve's version: let browsers revalidate.
HEADERS = {"Cache-Control": "no-cache"}


def _load_files() -> dict[str, bytes]:
    """Every web file shipped in this package, by name; read once when routes are added."""
    package = resources.files(__package__)
    return {
        entry.name: entry.read_bytes()
        for entry in package.iterdir()
        if any(entry.name.endswith(ext) for ext in MEDIA_TYPES)
    }


def _response(files: dict[str, bytes], name: str) -> web.Response:
    content_type = next(t for ext, t in MEDIA_TYPES.items() if name.endswith(ext))
    return web.Response(
        body=files[name], content_type=content_type, charset="utf-8", headers=HEADERS
    )


def add_routes(app: web.Application) -> None:
    """Add `GET /-/dashboard` (the page) and `GET /-/dashboard/{name}` (its files) to `app`."""
    files = _load_files()

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
