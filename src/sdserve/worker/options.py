"""The webui settings this worker keeps (GET/POST /sdapi/v1/options).

`sd_model_checkpoint` is not stored here: it is always the engine's current
model. Keys the webui has but this worker does not are ignored on POST, as the
webui ignores keys it does not know.
"""

from __future__ import annotations

from typing import Any

DEFAULT_OPTIONS: dict[str, Any] = {
    "samples_format": "png",
    "CLIP_stop_at_last_layers": 1,
    "eta_noise_seed_delta": 0,
    "sd_vae": "Automatic",
    "live_previews_enable": True,
    "show_progress_every_n_steps": 1,
    "interrupt_after_current": False,
    "randn_source": "CPU",
}


def updated_options(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`current` with the known keys of `changes` applied."""
    return {**current, **{k: v for k, v in changes.items() if k in DEFAULT_OPTIONS}}
