"""A test double of the A1111 API slice the web UI uses, with the real web UI mounted.

It "generates" by stepping through `steps` with a short sleep per step, so a
browser can watch progress move, see previews and interrupt; images are flat
PNGs of a red circle. Validation is real pydantic, so a bad field is a real
FastAPI 422.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

from fastapi import FastAPI
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from sdserve.webui import mount

SAMPLERS = ["Euler a", "Euler", "DPM++ 2M", "DDIM"]


class Txt2Img(BaseModel):
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1
    sampler_name: str = "Euler a"
    batch_size: int = Field(1, ge=1, le=8)
    steps: int = Field(50, ge=1, le=150)
    cfg_scale: float = 7.0
    width: int = Field(512, ge=64, le=2048)
    height: int = Field(512, ge=64, le=2048)
    enable_hr: bool = False  # hires fix: recorded, not acted on
    hr_scale: float = 2.0
    hr_second_pass_steps: int = 0
    denoising_strength: float | None = None


class Img2Img(Txt2Img):
    init_images: list[str] = Field(min_length=1)
    denoising_strength: float = Field(0.75, ge=0, le=1)


def png_b64(width: int, height: int, fill: str) -> str:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Double:
    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds
        self.step = 0
        self.steps = 0
        self.running = False
        self.interrupted = False
        self.requests: list[dict[str, Any]] = []

    async def generate(self, body: Txt2Img, *, fill: str) -> dict[str, Any]:
        self.requests.append(body.model_dump())
        self.running, self.interrupted, self.step, self.steps = True, False, 0, body.steps
        try:
            while self.step < body.steps and not self.interrupted:
                await asyncio.sleep(self.step_seconds)
                self.step += 1
        finally:
            self.running = False
        seed = 1234 if body.seed == -1 else body.seed
        seeds = [seed + i for i in range(body.batch_size)]
        infotexts = [
            f"{body.prompt}\nSteps: {body.steps}, Sampler: {body.sampler_name}, "
            f"CFG scale: {body.cfg_scale:g}, Seed: {s}, Size: {body.width}x{body.height}"
            for s in seeds
        ]
        info = {"prompt": body.prompt, "all_prompts": [body.prompt] * body.batch_size,
                "seed": seed, "all_seeds": seeds, "infotexts": infotexts}
        images = [png_b64(body.width, body.height, fill) for _ in seeds]
        return {"images": images, "parameters": body.model_dump(), "info": json.dumps(info)}

    def progress(self) -> dict[str, Any]:
        fraction = self.step / self.steps if self.running and self.steps else 0.0
        preview = png_b64(64, 64, "pink") if self.running and self.step else None
        return {
            "progress": fraction,
            "eta_relative": (self.steps - self.step) * self.step_seconds if self.running else 0,
            "state": {"interrupted": self.interrupted, "job_count": int(self.running),
                      "job_no": 0, "sampling_step": self.step, "sampling_steps": self.steps},
            "current_image": preview,
            "textinfo": None,
        }


def build_app(step_seconds: float = 0.1) -> tuple[FastAPI, Double]:
    app = FastAPI()
    double = Double(step_seconds)

    @app.get("/sdapi/v1/samplers")
    def samplers() -> list[dict[str, Any]]:
        return [{"name": n, "aliases": [], "options": {}} for n in SAMPLERS]

    @app.post("/sdapi/v1/txt2img")
    async def txt2img(body: Txt2Img) -> dict[str, Any]:
        return await double.generate(body, fill="red")

    @app.post("/sdapi/v1/img2img")
    async def img2img(body: Img2Img) -> dict[str, Any]:
        return await double.generate(body, fill="blue")

    @app.get("/sdapi/v1/progress")
    def progress() -> dict[str, Any]:
        return double.progress()

    @app.post("/sdapi/v1/interrupt")
    def interrupt() -> dict[str, Any]:
        double.interrupted = True
        return {}

    mount(app)
    return app, double
