"""Request and response bodies of the A1111 API, with the webui's defaults.

Field names and defaults follow AUTOMATIC1111's `modules/api/models.py`. Unknown
fields are accepted and ignored, as the webui does. Limits that never change are
declared here; the configurable ones (--max-size, --max-images) live in `limits`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GenerationBody(_Lenient):
    """Fields shared by txt2img and img2img."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str = "Euler a"
    sampler_index: str | None = None  # the webui's older name for sampler_name
    scheduler: str = "Automatic"
    batch_size: int = Field(1, ge=1)
    n_iter: int = Field(1, ge=1)
    steps: int = Field(50, ge=1, le=150)
    cfg_scale: float = 7.0
    width: int = Field(512, ge=8, multiple_of=8)
    height: int = Field(512, ge=8, multiple_of=8)
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    comments: dict[str, Any] | None = None
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    force_task_id: str | None = None
    infotext: str | None = None

    @property
    def effective_sampler(self) -> str:
        """`sampler_index` counts only when a client sent it without `sampler_name`."""
        if "sampler_name" not in self.model_fields_set and self.sampler_index:
            return self.sampler_index
        return self.sampler_name


class Txt2ImgBody(GenerationBody):
    enable_hr: bool = False
    denoising_strength: float | None = Field(None, ge=0.0, le=1.0)  # hires fix's
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = Field(2.0, gt=0.0)
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = Field(0, ge=0, le=150)
    hr_resize_x: int = Field(0, ge=0)
    hr_resize_y: int = Field(0, ge=0)
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""


class Img2ImgBody(GenerationBody):
    init_images: list[str] | None = None
    resize_mode: int = Field(0, ge=0, le=3)
    image_cfg_scale: float | None = None
    denoising_strength: float = Field(0.75, ge=0.0, le=1.0)
    mask: str | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = Field(0, ge=0, le=1)
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = Field(False, exclude=True)


class GenerationResponse(BaseModel):
    images: list[str] | None = None
    parameters: dict[str, Any]
    info: str  # a JSON document in a string, as the webui sends it


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: str | None = None
    textinfo: str | None = None


class PngInfoBody(_Lenient):
    image: str = ""


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float | None = None
    need_inner_model: bool | None = None


class SDModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    title: str
    model_name: str
    hash: str | None = None
    sha256: str | None = None
    filename: str
    config: str | None = None


class MemoryResponse(BaseModel):
    ram: dict[str, Any]
    cuda: dict[str, Any]
