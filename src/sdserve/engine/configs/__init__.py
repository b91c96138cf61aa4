"""Files that ship with sdserve so that loading a model needs no network.

- `clip_tokenizer/`: OpenAI CLIP's BPE tokenizer (built by tools/build_clip_tokenizer.py),
  used by SD 1.x and by both SDXL text encoders.
- `sd1/`, `sdxl/`: diffusers config folders for single-file checkpoints of the
  SD 1.5 and SDXL base architectures (no weights, no tokenizer: both are filled in
  by the loader).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTextConfig, CLIPTokenizer

CONFIGS_DIR = Path(__file__).parent
CLIP_TOKENIZER_DIR = CONFIGS_DIR / "clip_tokenizer"
SD1_CONFIG_DIR = CONFIGS_DIR / "sd1"
SDXL_CONFIG_DIR = CONFIGS_DIR / "sdxl"
# SDXL's second (OpenCLIP) text encoder pads with "!" instead of the end token.
OPEN_CLIP_PAD_TOKEN = "!"


def load_clip_tokenizer(pad_token: str | None = None) -> CLIPTokenizer:
    from transformers import CLIPTokenizer

    extra = {"pad_token": pad_token} if pad_token else {}
    return CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR, **extra)


def small_clip_text_config(
    *, width: int, layers: int, heads: int, intermediate: int
) -> CLIPTextConfig:
    """A narrow CLIP text encoder that reads the shipped tokenizer's ids, for the
    models sdserve builds itself (the random `tiny` ones and the trained shapes one)."""
    from transformers import CLIPTextConfig

    tokenizer_ids = {"bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        projection_dim=width,
        hidden_act="quick_gelu",
        **tokenizer_ids,
    )
