"""The web UI's files, served from a bare FastAPI app."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sdserve.webui import mount


def client() -> TestClient:
    app = FastAPI()
    mount(app)
    return TestClient(app)


def test_page_at_root() -> None:
    response = client().get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'placeholder="a red circle on a white background"' in response.text


def test_every_asset_the_page_links_is_served() -> None:
    http = client()
    page = http.get("/").text
    links = re.findall(r'(?:src|href)="(webui/[^"]+)"', page)
    assert sorted(links) == ["webui/app.js", "webui/style.css"]
    for link in links:
        response = http.get("/" + link)
        assert response.status_code == 200, link
        assert response.content
    assert http.get("/webui/app.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/webui/style.css").headers["content-type"].startswith("text/css")


def test_page_uses_relative_api_urls_with_the_cookie() -> None:
    script = client().get("/webui/app.js").text
    assert 'const API = "sdapi/v1/"' in script
    assert 'credentials: "same-origin"' in script


def test_unknown_asset_is_404_naming_it() -> None:
    http = client()
    for name in ["nope.js", "routes.py", "__init__.py"]:
        response = http.get(f"/webui/{name}")
        assert response.status_code == 404
        assert name in response.json()["detail"]


def test_page_is_not_in_the_openapi_schema() -> None:
    paths = client().get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/webui") for p in paths)
