"""The web UI and the dashboard in headless chromium, through a real `sdserve serve`
with two real tiny-model replicas: the page's progress polls must reach the
replica running its job (the `sd` cookie), and the dashboard must show them."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, require_chromium

pytestmark = pytest.mark.slow

@pytest.fixture
def sync_browser():  # type: ignore[no-untyped-def]
    """A synchronous chromium: these tests drive a server in another process."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_web_ui(browser, url: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "/")
    # The real engine's samplers arrived from a replica.
    page.wait_for_function("document.getElementById('sampler_name').options.length >= 13")
    return page


def test_web_ui_generates_through_the_gateway_with_two_replicas(serve, sync_browser) -> None:
    browser = sync_browser
    server = serve("--set", "min-scale=2")
    server.wait_for(lambda s: s["ready"] == 2, timeout=120, what="two ready replicas")
    page = open_web_ui(browser, server.url)
    page.fill("#prompt", "a red circle on a white background")
    page.fill("#steps", "40")
    page.fill("#width", "256")
    page.fill("#height", "256")
    page.fill("#seed", "7")
    page.click("#generate")

    # Progress comes from the replica running the job: with the other replica
    # idle, a poll sent there would read 0 and the bar would never move.
    page.wait_for_function(
        "Number(document.getElementById('progress_bar').getAttribute('aria-valuenow')) >= 10",
        timeout=60_000,
    )
    page.wait_for_selector("#preview:not([hidden])")
    page.screenshot(path=SCREENSHOTS / "e2e-webui-progress.png")
    page.wait_for_selector("#gallery figure", timeout=120_000)
    infotext = page.locator("#gallery .infotext").first.text_content()
    assert infotext.startswith("a red circle on a white background")
    assert "Seed: 7" in infotext and "Size: 256x256" in infotext
    page.screenshot(path=SCREENSHOTS / "e2e-webui-result.png", full_page=True)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "sd" in cookies

    # Interrupt reaches the same replica and ends a long job early.
    page.fill("#steps", "150")
    page.click("#generate")
    page.wait_for_selector("#preview:not([hidden])", timeout=60_000)
    page.click("#interrupt")
    page.wait_for_function("document.querySelectorAll('#gallery figure').length === 2",
                           timeout=60_000)
    assert page.is_enabled("#generate")

    # The dashboard shows both replicas and the requests just made.
    dashboard = browser.new_page(viewport={"width": 1400, "height": 1000})
    dashboard.goto(server.url + "/-/dashboard")
    dashboard.wait_for_function(
        "document.querySelectorAll('#replica-rows tr').length === 2", timeout=30_000
    )
    dashboard.wait_for_timeout(4_500)  # two refreshes, so the rate charts have points
    dashboard.screenshot(path=SCREENSHOTS / "e2e-dashboard.png", full_page=True)
    rows = dashboard.locator("#replica-rows tr").all_text_contents()
    assert all("ready" in row for row in rows), rows

