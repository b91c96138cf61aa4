"""The web UI in headless chromium against the A1111 double: generate, progress, interrupt,
img2img, and a 422 shown to the user."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.webui.a1111_double import png_b64

pytestmark = pytest.mark.slow


async def open_page(browser, url: str):  # type: ignore[no-untyped-def]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url + "/")
    # Samplers come from the API, not from the page's built-in fallback.
    await page.wait_for_function("document.getElementById('sampler_name').options.length === 4")
    return page, errors


async def test_generate_shows_progress_then_the_image(browser, a1111, screenshots: Path) -> None:
    url, double = a1111
    page, errors = await open_page(browser, url)
    await page.fill("#prompt", "a red circle on a white background")
    await page.select_option("#sampler_name", "DPM++ 2M")
    await page.fill("#steps", "25")
    await page.fill("#width", "256")
    await page.fill("#height", "256")
    await page.fill("#seed", "42")
    await page.fill("#batch_size", "2")
    await page.click("#generate")

    # The bar moves and a preview appears while the job runs.
    await page.wait_for_function(
        "Number(document.getElementById('progress_bar').getAttribute('aria-valuenow')) >= 20"
    )
    await page.wait_for_selector("#preview:not([hidden])")
    assert await page.is_enabled("#interrupt")
    assert "step" in await page.text_content("#progress_text")
    await page.screenshot(path=screenshots / "webui-progress.png")

    await page.wait_for_selector("#gallery figure >> nth=1")
    assert await page.locator("#gallery figure").count() == 2
    infotexts = await page.locator("#gallery .infotext").all_text_contents()
    assert [t.splitlines()[0] for t in infotexts] == ["a red circle on a white background"] * 2
    assert "Seed: 42" in infotexts[0] and "Seed: 43" in infotexts[1]
    download = page.locator("#gallery a.download").first
    assert await download.get_attribute("download") == "sdserve-42.png"
    assert (await download.get_attribute("href")).startswith("data:image/png;base64,")
    assert await page.is_enabled("#generate") and not await page.is_enabled("#interrupt")
    await page.screenshot(path=screenshots / "webui-result.png", full_page=True)

    sent = double.requests[-1]
    assert sent["sampler_name"] == "DPM++ 2M"
    assert (sent["steps"], sent["width"], sent["height"], sent["seed"]) == (25, 256, 256, 42)
    assert sent["batch_size"] == 2
    assert errors == []


async def test_interrupt_stops_the_job_early(browser, a1111) -> None:
    url, double = a1111
    page, errors = await open_page(browser, url)
    await page.fill("#steps", "150")
    await page.click("#generate")
    await page.wait_for_selector("#preview:not([hidden])")
    await page.click("#interrupt")
    await page.wait_for_selector("#gallery figure")
    assert double.interrupted
    assert double.step < 150
    assert errors == []


async def test_img2img_sends_the_uploaded_image(
    browser, a1111, tmp_path: Path, screenshots: Path
) -> None:
    url, double = a1111
    page, errors = await open_page(browser, url)
    await page.click("#mode-img2img")
    # Without an image the page says what is missing instead of sending.
    await page.click("#generate")
    assert "choose an input image" in await page.text_content("#error")

    upload = tmp_path / "red.png"
    upload.write_bytes(base64.b64decode(png_b64(64, 64, "red")))
    await page.set_input_files("#init_image", str(upload))
    await page.wait_for_selector("#init_preview:not([hidden])")
    await page.fill("#prompt", "a blue circle on a white background")
    await page.fill("#steps", "5")
    await page.fill("#denoising_strength", "0.6")
    await page.click("#generate")
    await page.wait_for_selector("#gallery figure")
    await page.screenshot(path=screenshots / "webui-img2img.png", full_page=True)

    sent = double.requests[-1]
    assert sent["denoising_strength"] == 0.6
    assert sent["init_images"][0] == "data:image/png;base64," + png_b64(64, 64, "red")
    assert await page.is_hidden("#error")
    assert errors == []


async def test_hires_fix_sends_the_webui_fields(browser, a1111, tmp_path: Path) -> None:
    url, double = a1111
    page, errors = await open_page(browser, url)
    await page.fill("#prompt", "a red circle on a white background")
    await page.fill("#steps", "5")
    await page.check("#enable_hr")
    await page.fill("#hr_scale", "1.5")
    await page.fill("#hr_second_pass_steps", "8")
    await page.fill("#hr_denoising_strength", "0.55")
    await page.click("#generate")
    await page.wait_for_selector("#gallery figure")

    sent = double.requests[-1]
    assert sent["enable_hr"] is True
    assert (sent["hr_scale"], sent["hr_second_pass_steps"]) == (1.5, 8)
    assert sent["denoising_strength"] == 0.55
    # img2img has no hires fix: the fieldset goes, and nothing of it is sent.
    await page.click("#mode-img2img")
    assert await page.is_hidden("#hires")
    upload = tmp_path / "red.png"
    upload.write_bytes(base64.b64decode(png_b64(64, 64, "red")))
    await page.set_input_files("#init_image", str(upload))
    await page.wait_for_selector("#init_preview:not([hidden])")
    await page.click("#generate")
    await page.wait_for_function("document.querySelectorAll('#gallery figure').length > 1")
    sent = double.requests[-1]
    assert sent["init_images"] and sent["enable_hr"] is False
    assert sent["denoising_strength"] == 0.75  # img2img's own slider, not hires fix's
    assert errors == []


async def test_validation_error_names_the_field(browser, a1111, screenshots: Path) -> None:
    url, _ = a1111
    page, _ = await open_page(browser, url)
    await page.fill("#steps", "500")
    await page.click("#generate")
    await page.wait_for_selector("#error:not([hidden])")
    message = await page.text_content("#error")
    assert message.startswith("422 Unprocessable")
    assert "steps: Input should be less than or equal to 150" in message
    assert await page.locator("#gallery figure").count() == 0
    assert await page.is_enabled("#generate")
    await page.screenshot(path=screenshots / "webui-error.png")

