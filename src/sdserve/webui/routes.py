"""Serve the web UI from a FastAPI app: the page at `/`, its assets under `/webui/`.

The page talks to the A1111 API with relative URLs, so it works the same served
by one worker, behind the gateway (where the `sd` cookie keeps a browser on its
replica) and behind Knative.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from sdserve import static_files

PAGE = "index.html"
ASSET_PREFIX = "/webui"


def mount(app: FastAPI) -> None:
    """Add `GET /` (the page) and `GET /webui/{name}` (its scripts and styles) to `app`."""
    files = static_files.load(__package__)

    def respond(name: str) -> Response:
        file = files[name]
        return Response(file.body, media_type=f"{file.content_type}; charset=utf-8",
                        headers=static_files.HEADERS)

    def page() -> Response:
        return respond(PAGE)

    def asset(name: str) -> Response:
        if name not in files:
            raise HTTPException(status_code=404, detail=f"no web UI file named {name!r}")
        return respond(name)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route(ASSET_PREFIX + "/{name}", asset, methods=["GET"], include_in_schema=False)
