"""A1111's PNG `parameters` text, both ways.

    a photo of a cat
    Negative prompt: blurry
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, ...

The dict form uses A1111's own keys: "Prompt", "Negative prompt", then the
settings line's keys in order. Values holding a comma, colon or quote are
written as JSON strings, as the webui does.
"""

from __future__ import annotations

import json
import re
from typing import Any

PROMPT = "Prompt"
NEGATIVE_PROMPT = "Negative prompt"
_NEGATIVE_PREFIX = NEGATIVE_PROMPT + ":"
# key: value pairs of the settings line; a value is a JSON string or runs to the next comma.
_PAIR = re.compile(r'\s*(\w[\w \-/+.]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_MIN_SETTINGS = 3


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"') else text


def format_infotext(params: dict) -> str:
    lines = [str(params.get(PROMPT, ""))]
    negative = params.get(NEGATIVE_PROMPT)
    if negative:
        lines.append(f"{_NEGATIVE_PREFIX} {negative}")
    settings = [
        f"{key}: {_quote(value)}"
        for key, value in params.items()
        if key not in (PROMPT, NEGATIVE_PROMPT) and value is not None
    ]
    lines.append(", ".join(settings))
    return "\n".join(lines)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def _settings(line: str) -> dict[str, str] | None:
    pairs = _PAIR.findall(line)
    if len(pairs) < _MIN_SETTINGS:
        return None
    return {key.strip(): _unquote(value) for key, value in pairs}


def parse_infotext(text: str) -> dict:
    lines = text.strip().split("\n")
    settings = _settings(lines[-1]) if lines else None
    if settings is not None:
        lines = lines[:-1]
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if line.startswith(_NEGATIVE_PREFIX) or negative:
            negative.append(line.removeprefix(_NEGATIVE_PREFIX).lstrip() if not negative else line)
        else:
            prompt.append(line)
    result = {PROMPT: "\n".join(prompt), NEGATIVE_PROMPT: "\n".join(negative)}
    result.update(settings or {})
    return result
