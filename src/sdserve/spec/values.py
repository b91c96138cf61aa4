"""Readers for the scalar spellings Knative accepts in annotations and ConfigMaps.

Each reader takes the raw string and the field it came from, and raises
`SpecError` naming that field. Durations follow Go's `time.ParseDuration`
("60s", "1m30s", "500ms", "0"), which is what Knative uses for both.
"""

from __future__ import annotations

import math
import re

from sdserve.spec.errors import SpecError

_INT32_MAX = 2**31 - 1
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# Go's strconv.ParseBool spellings.
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _quoted(text: object) -> str:
    return f'"{text}"'


def read_int(text: str, field: str, *, minimum: int = 0) -> int:
    """An int32 >= minimum, as Go's strconv.ParseInt(v, 10, 32) reads it."""
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise SpecError(field, f"must be an integer >= {minimum}, got {_quoted(text)}") from None
    if value < minimum or value > _INT32_MAX:
        raise SpecError(field, f"must be an integer >= {minimum}, got {_quoted(text)}")
    return value


def read_float(text: str, field: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise SpecError(field, f"must be a number, got {_quoted(text)}") from None
    if not math.isfinite(value):
        raise SpecError(field, f"must be a finite number, got {_quoted(text)}")
    return value


def read_bool(text: str, field: str) -> bool:
    word = str(text).strip()
    if word in _BOOLS:
        return _BOOLS[word]
    raise SpecError(field, f"must be true or false, got {_quoted(text)}")


def read_duration(text: str, field: str) -> float:
    """Seconds from a Go duration string; a bare "0" is the only unitless form."""
    raw = str(text).strip()
    body = raw.lstrip("+-")
    sign = -1.0 if raw.startswith("-") else 1.0
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise SpecError(field, f'must be a duration such as "60s" or "1m", got {_quoted(text)}')
    return sign * sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
