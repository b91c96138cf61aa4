"""Serve the web UI from a FastAPI app: the page at `/`, its assets under `/webui/`.

The page talks to the A1111 API with relative URLs, so it works the same served
by one worker, behind the gateway (where the `sd` cookie keeps a browser on its
replica) and behind Knative.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

PAGE = "index.html"
ASSET_PREFIX = "/webui"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Assets are small and change with sdserve's version: let browsers revalidate.
HEADERS = {"Cache-Control": "no-cache"}


def _load_files() -> dict[str, bytes]:
    """Every web file shipped in this package, by name; read once at mount."""
    package = resources.files(__package__)
    return {
        entry.name: entry.read_bytes()
        for entry in package.iterdir()
        if any(entry.name.endswith(ext) for ext in MEDIA_TYPES)
    }


def _media_type(name: str) -> str:
    return next(t for ext, t in MEDIA_TYPES.items() if name.endswith(ext))


def mount(app: FastAPI) -> None:
    """Add `GET /` (the page) and `GET /webui/{name}` (its scripts and styles) to `app`."""
    files = _load_files()

    def page() -> Response:
        return Response(files[PAGE], media_type=_media_type(PAGE), headers=HEADERS)

    def asset(name: str) -> Response:
        if name not in files:
            raise HTTPException(status_code=404, detail=f"no web UI file named {name!r}")
        return Response(files[name], media_type=_media_type(name), headers=HEADERS)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route(ASSET_PREFIX + "/{name}", asset, methods=["GET"], include_in_schema=False)
