"""The dashboard in headless chromium against the gateway double: charts fill, tiles and the
replica table follow /-/status."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.gateway_double import MAX_REPLICAS

pytestmark = pytest.mark.slow


async def test_charts_and_replica_table_fill(browser, gateway, screenshots: Path) -> None:
    url, double = gateway
    page = await browser.new_page(viewport={"width": 1400, "height": 1250})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url + "/-/dashboard?interval=0.25")

    # Enough refreshes for windowed rates, and for every replica of the double to appear.
    await page.wait_for_function(
        f"document.querySelectorAll('#replica-rows tr').length === {MAX_REPLICAS}"
        " && charts && charts.rate.data[0].length >= 8"
    )
    assert double.scrapes >= 8

    # Every chart plotted points, and each series of the request charts has values.
    for chart, series in [("rate", 4), ("success", 1), ("latency", 4), ("concurrency", 3),
                          ("replicas", 4), ("queue", 1)]:
        data = await page.evaluate(f"charts.{chart}.data")
        assert len(data) == series + 1, chart
        for values in data[1:]:
            assert any(v is not None for v in values), chart
    assert await page.locator("#charts canvas").count() == 6

    rates = await page.evaluate("charts.rate.data[1].filter(v => v !== null)")
    assert all(v > 0 for v in rates)  # the double adds 2xx requests on every scrape
    latency = await page.evaluate("charts.latency.data.slice(1).map(s => s[s.length - 1])")
    assert latency == sorted(latency) and 250 <= latency[0] <= 5000

    rows = await page.locator("#replica-rows tr").all_inner_texts()
    first = rows[0].split("\t")
    assert first == ["stable-diffusion-000000", "ready", "cpu", "0", "0", "60m", "4000"]
    assert rows[-1].split("\t")[1] == "starting"
    assert await page.text_content("#tile-desired") == str(MAX_REPLICAS)
    assert await page.text_content("#tile-panic") == "yes"
    assert await page.text_content("#host") == "stable-diffusion.default.example.com"
    assert (await page.text_content("#tile-success")).endswith(" %")
    assert await page.is_hidden("#error")
    await page.screenshot(path=screenshots / "dashboard.png", full_page=True)
    assert errors == []


async def test_unreachable_gateway_is_shown(browser, gateway) -> None:
    url, _ = gateway
    page = await browser.new_page()
    await page.goto(url + "/-/dashboard?interval=0.25")
    await page.wait_for_function("document.getElementById('tile-desired').textContent !== '-'")
    # The gateway starts answering errors: the page says so and keeps its last data.
    await page.route("**/-/status", lambda route: route.fulfill(status=502, body="bad gateway"))
    await page.wait_for_selector("#error:not([hidden])")
    assert "/-/status answered 502" in await page.text_content("#error")
    assert await page.text_content("#tile-desired") == str(MAX_REPLICAS)


async def test_against_a_real_gateway_with_no_replicas(browser) -> None:
    from sdserve.dashboard import add_routes
    from sdserve.gateway import Gateway
    from sdserve.spec.types import ServiceSpec
    from tests.dashboard.conftest import serving
    from tests.dashboard.test_grafana_dashboard import NoScaling

    pokes: list[str] = []
    gateway = Gateway([ServiceSpec(name="stable-diffusion")], secret=b"test",
                      poke=pokes.append, scale_status=NoScaling())
    app = gateway.app()
    add_routes(app)  # as `sdserve serve` mounts it
    async with serving(app) as url:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(url + "/-/dashboard?interval=0.25")
        await page.wait_for_function("charts && charts.replicas.data[0].length >= 2")
        assert await page.text_content("#tile-desired") == "1"
        assert await page.text_content("#tile-ready") == "0"
        assert "scaled to zero" in await page.text_content("#replica-rows")
        assert await page.is_hidden("#error")
        assert errors == []
        # Looking must not wake the service: the page asks the data path for nothing
        # (not even /favicon.ico).
        assert pokes == []
