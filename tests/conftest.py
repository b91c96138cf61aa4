"""Fixtures shared across test packages: a headless Debian chromium and the
screenshots folder (`artifacts/screenshots/`, kept as CI artifacts).

Engines built in the test process get the batch-invariant fp32 the worker sets up
for itself (engine/batching.py), which must happen before torch's first MKL call.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sdserve.engine.batching import batch_invariant_environment

batch_invariant_environment(os.environ)

CHROMIUM = "/usr/bin/chromium"
# As root in a sandbox with no network: no sandboxing, no GPU, no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def require_chromium() -> None:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt install chromium)")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
