"""Web files shipped inside a package (the web UI, the dashboard), read once.

Both pages are served by different frameworks (the worker's FastAPI, the
gateway's aiohttp) but from the same kind of table: file name → body and type.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
}
# The files change with sdserve's version: let browsers revalidate.
HEADERS = {"Cache-Control": "no-cache"}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str  # without charset; every shipped file is UTF-8


def load(package: str) -> dict[str, StaticFile]:
    """Every web file directly inside `package`, by name."""
    files = {}
    for entry in resources.files(package).iterdir():
        content_type = next(
            (t for ext, t in MEDIA_TYPES.items() if entry.name.endswith(ext)), None
        )
        if content_type:
            files[entry.name] = StaticFile(entry.read_bytes(), content_type)
    return files
