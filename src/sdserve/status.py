"""`sdserve status`: services and replicas of a running gateway, as `kubectl get` shows pods.

Reads the gateway's `/-/status` JSON with the standard library only (this
command must start instantly and never import torch). Formatting is pure:
a status dict in, text out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_INTERVAL = 2.0
REQUEST_TIMEOUT = 5.0
# kubectl separates columns by three spaces.
COLUMN_GAP = "   "
# Cursor home, then clear the screen: the table is redrawn in place.
CLEAR_SCREEN = "\x1b[H\x1b[2J"
MISSING = "-"

SERVICE_HEADERS = ("NAME", "HOST", "DESIRED", "READY", "PANIC", "QUEUE", "STANDBY")
REPLICA_HEADERS = ("NAME", "STATE", "DEVICE", "IN-FLIGHT", "AGE")


class StatusError(Exception):
    """The gateway could not be read; the message says why, for the user."""


# ---------------------------------------------------------------- formatting


def format_age(seconds: float | None) -> str:
    """A replica's age the way kubectl writes it: 45s, 2m13s, 17m, 3h5m, 30h, 2d4h, 9d."""
    if seconds is None or seconds < 0:
        return MISSING
    total = int(seconds)
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 120:
        return f"{total}s"
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    return f"{days}d"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns as wide as their widest cell, no trailing spaces."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        COLUMN_GAP.join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def standby_cell(standby: Any) -> str:
    """The standby's state (starting, ready, none, disabled); its pid stays in the JSON."""
    return _cell(standby.get("state")) if isinstance(standby, Mapping) else MISSING


def service_row(service: Mapping[str, Any]) -> list[str]:
    return [
        _cell(service.get("name")),
        _cell(service.get("host")),
        _cell(service.get("desired")),
        _cell(service.get("ready")),
        _cell(service.get("panic")),
        _cell(service.get("queue")),
        standby_cell(service.get("standby")),
    ]


def replica_row(replica: Mapping[str, Any]) -> list[str]:
    return [
        _cell(replica.get("id")),
        _cell(replica.get("state")),
        _cell(replica.get("device")),
        _cell(replica.get("in_flight")),
        format_age(replica.get("uptime")),
    ]


def format_status(status: Mapping[str, Any]) -> str:
    """The whole screen: the services table, then each service's replicas table."""
    services = status.get("services") or []
    if not services:
        return "No services.\n"
    sections = [format_table(SERVICE_HEADERS, [service_row(s) for s in services])]
    for service in services:
        replicas = service.get("replicas") or []
        title = f"Replicas of {service.get('name', MISSING)}:"
        if replicas:
            body = format_table(REPLICA_HEADERS, [replica_row(r) for r in replicas])
        else:
            body = "No replicas (scaled to zero)."
        sections.append(f"{title}\n{body}")
    return "\n\n".join(sections) + "\n"


# ------------------------------------------------------------------------ I/O


def status_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/-/status"


def fetch_status(base_url: str, *, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
    """GET /-/status and decode it; any failure is a StatusError saying what went wrong."""
    url = status_url(base_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        raise StatusError(f"{url} answered HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise StatusError(f"cannot reach the gateway at {url}: {reason}") from e
    except ValueError as e:  # a malformed --url
        raise StatusError(f"--url: {e}") from e
    try:
        status = json.loads(body)
    except ValueError as e:
        raise StatusError(f"{url} did not answer JSON: {e}") from e
    if not isinstance(status, dict) or not isinstance(status.get("services", []), list):
        raise StatusError(f'{url} answered JSON without a "services" list')
    return status


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the gateway's base URL (default {DEFAULT_URL})"
    )
    parser.add_argument(
        "-w", "--watch", action="store_true", help="redraw the tables in place until Ctrl-C"
    )
    parser.add_argument(
        "--interval",
        type=_positive_seconds,
        default=DEFAULT_INTERVAL,
        help=f"seconds between redraws with --watch (default {DEFAULT_INTERVAL:g})",
    )


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        while True:
            text = format_status(fetch_status(args.url))
            out.write(CLEAR_SCREEN + text if args.watch else text)
            out.flush()
            if not args.watch:
                return 0
            time.sleep(args.interval)
    except StatusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
