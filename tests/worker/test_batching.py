"""Jobs that wait for the engine run in compatible groups: the planner's table, then a
real worker over HTTP with several requests in flight at once."""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from sdserve.worker.batcher import Waiting, next_group
from tests.pictures import psnr
from tests.worker.conftest import FAST, SLOW, png_bytes, running_job, wait_until

# -- the planner --------------------------------------------------------------------

A, B = ("a",), ("b",)
PLANNER_CASES = [
    # label, waiting jobs (oldest first), max_images, want
    ("nothing waiting", [], 8, []),
    ("one job", [Waiting(A, 1)], 8, [0]),
    ("same key joins", [Waiting(A, 1), Waiting(A, 2), Waiting(A, 1)], 8, [0, 1, 2]),
    ("other key stays", [Waiting(A, 1), Waiting(B, 1), Waiting(A, 1)], 8, [0, 2]),
    ("oldest decides, even with a rarer key", [Waiting(B, 1), Waiting(A, 1), Waiting(A, 1)],
     8, [0]),
    ("runs alone", [Waiting(None, 1), Waiting(None, 1)], 8, [0]),
    ("a lone job does not pull others", [Waiting(A, 1), Waiting(None, 1)], 8, [0]),
    ("round stays within max_images", [Waiting(A, 3), Waiting(A, 4), Waiting(A, 2)], 6,
     [0, 2]),
    ("an oversized oldest still runs", [Waiting(A, 9), Waiting(A, 1)], 8, [0]),
]


@pytest.mark.parametrize(("label", "waiting", "max_images", "want"), PLANNER_CASES,
                         ids=[c[0] for c in PLANNER_CASES])
def test_next_group(label: str, waiting: list[Waiting], max_images: int,
                    want: list[int]) -> None:
    assert next_group(waiting, max_images) == want


# -- a real worker ------------------------------------------------------------------

# Compatible with each other (64x64, 4 steps, Euler a), different prompts, seeds, batch sizes.
SHARED = [
    {**FAST, "prompt": "red cat", "seed": 11},
    {**FAST, "prompt": "blue dog", "negative_prompt": "ugly", "seed": 12, "batch_size": 2},
    {**FAST, "prompt": "green tree", "seed": 13, "n_iter": 2},
]
OTHER_SIZE = {**FAST, "width": 128, "seed": 14}
# bf16 (the worker's default on this CPU): allowed pixel difference in 8-bit levels
# (tests/engine/test_batching.py measures the engine alone; 0 on AMX CPUs).
# bf16 kernels block by batch size, and the shipped (trained) tiny model's 20 steps at
# CFG 7 amplify that: a shared call moved pixels by up to 11 levels, 2.2 on average.
# The bar is the one bf16 meets against fp32 (tests/engine/test_fast_path.py).
BF16_MIN_PSNR_DB = 30.0


def _passes(client: httpx.Client) -> float:
    """Engine passes finished so far (the generation-time histogram's count)."""
    text = client.get("/metrics").text
    return float(re.search(r"^sdserve_worker_generation_seconds_count (\S+)$", text,
                           re.M).group(1))


def _waiting(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    return float(re.search(r"^sdserve_worker_jobs_waiting (\S+)$", text, re.M).group(1))


def _pixels(image_b64: str) -> Image.Image:
    return Image.open(io.BytesIO(png_bytes(image_b64)))


def _post(base_url: str, body: dict) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=300) as c:
        return c.post("/sdapi/v1/txt2img", json=body)


def _behind_a_running_job(base_url: str, client: httpx.Client, bodies: list[dict],
                          will_wait: int) -> list[httpx.Response]:
    """Send `bodies` at once while a slow job holds the engine; once `will_wait` of them
    wait for it, interrupt that job, so that the engine takes them as planned."""
    with ThreadPoolExecutor(max_workers=len(bodies) + 1) as pool:
        blocker = pool.submit(_post, base_url, SLOW)
        running_job(client)
        waiting_before = _waiting(client)
        futures = [pool.submit(_post, base_url, body) for body in bodies]
        wait_until(lambda: _waiting(client) >= waiting_before + will_wait)
        client.post("/sdapi/v1/interrupt")
        assert blocker.result().status_code == 200
        return [f.result() for f in futures]


@pytest.mark.slow
def test_waiting_requests_share_a_pass_and_match_running_alone(
        base_url: str, client: httpx.Client) -> None:
    bad = {**FAST, "sampler_name": "no such sampler"}
    passes_before = _passes(client)
    shared, other, refused = (lambda r: (r[:3], r[3], r[4]))(
        _behind_a_running_job(base_url, client, [*SHARED, OTHER_SIZE, bad], will_wait=4))
    # The blocker, one pass for the three compatible requests, one for the other size;
    # the bad request is answered before it ever waits.
    assert _passes(client) - passes_before == 3
    assert refused.status_code == 422
    assert "sampler_name" in refused.text
    assert other.status_code == 200
    for body, response in zip(SHARED, shared, strict=True):
        assert response.status_code == 200, response.text
        alone = client.post("/sdapi/v1/txt2img", json=body).json()
        got = response.json()
        assert len(got["images"]) == body.get("batch_size", 1) * body.get("n_iter", 1)
        info, alone_info = json.loads(got["info"]), json.loads(alone["info"])
        assert info["all_seeds"] == alone_info["all_seeds"]
        assert info["all_prompts"] == alone_info["all_prompts"]
        assert info["infotexts"] == alone_info["infotexts"]
        for image, solo in zip(got["images"], alone["images"], strict=True):
            assert psnr(_pixels(image), _pixels(solo)) >= BF16_MIN_PSNR_DB


@pytest.mark.slow
def test_interrupt_stops_the_whole_pass(base_url: str, client: httpx.Client) -> None:
    slow = [{**SLOW, "prompt": "first", "seed": 21}, {**SLOW, "prompt": "second", "seed": 22}]
    with ThreadPoolExecutor(max_workers=3) as pool:
        blocker = pool.submit(_post, base_url, SLOW)
        running_job(client)
        waiting_before = _waiting(client)
        futures = [pool.submit(_post, base_url, body) for body in slow]
        wait_until(lambda: _waiting(client) >= waiting_before + 2)
        client.post("/sdapi/v1/interrupt")
        assert blocker.result().status_code == 200
        # Now the two run as one pass: stop it once it is under way.
        running_job(client)
        client.post("/sdapi/v1/interrupt")
        responses = [f.result() for f in futures]
    for response in responses:
        assert response.status_code == 200
        info = json.loads(response.json()["info"])
        assert info["interrupted"] is True
        assert 1 <= len(response.json()["images"]) < SLOW["n_iter"]
