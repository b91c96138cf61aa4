"""One structured (JSON) line per request, joined to the worker's by X-Request-Id."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

log = logging.getLogger("sdserve.gateway.access")


@dataclass
class AccessRecord:
    request_id: str
    method: str
    path: str
    host: str
    service: str | None = None
    status: int = 0
    duration_ms: float = 0.0
    queued_ms: float = 0.0
    replica: str | None = None
    retried: bool = False


def format_line(record: AccessRecord, *, wall_time: float) -> str:
    fields = {"time": _iso(wall_time), **asdict(record)}
    fields["duration_ms"] = round(record.duration_ms, 3)
    fields["queued_ms"] = round(record.queued_ms, 3)
    return json.dumps(fields, separators=(",", ":"))


def _iso(wall_time: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall_time))
    return f"{seconds}.{int(wall_time % 1 * 1000):03d}Z"


def emit(record: AccessRecord) -> None:
    # Formatting costs more than the check; skip it when nobody listens.
    if log.isEnabledFor(logging.INFO):
        log.info(format_line(record, wall_time=time.time()))
