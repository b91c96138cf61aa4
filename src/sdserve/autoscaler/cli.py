"""`sdserve autoscaler replay FILE|-`: check settings against recorded load.

FILE is JSON: {"containerConcurrency": N, "annotations": {...}, "config":
{config-autoscaler keys}, "ticks": [{"t": s, "ready": n, "stable": x, "panic":
y, "reachable": true}]} with stable/panic already averaged. Each tick prints
one JSON line {"t", "desired", "panic_mode", "excess_burst_capacity"}, where
desired is before min/max clamping, as Knative's Scale returns it. The decision
is `kpa.decide`, the function the live loop calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from sdserve.autoscaler.kpa import decide, initial_state
from sdserve.cli import EXIT_USAGE
from sdserve.spec.annotations import annotations_of, resolve_autoscaling
from sdserve.spec.config import config_from_map
from sdserve.spec.errors import SpecError
from sdserve.spec.types import Autoscaling
from sdserve.spec.values import read_int


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    replay = sub.add_parser("replay", help="replay recorded load through the KPA decision",
                            description=__doc__.splitlines()[0])
    replay.add_argument("file", metavar="FILE", help="recording as JSON, or - for stdin")


def _number(tick: dict[str, Any], key: str, field: str) -> float:
    value = tick.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SpecError(f"{field}.{key}", f"must be a number >= 0, got {value!r}")
    return float(value)


def _settings(recording: dict[str, Any]) -> Autoscaling:
    concurrency = read_int(str(recording.get("containerConcurrency", 0)), "containerConcurrency")
    config = recording.get("config") or {}
    if not isinstance(config, dict):
        raise SpecError("config", "must be a mapping of config-autoscaler keys")
    return resolve_autoscaling(annotations_of(recording.get("annotations"), "annotations"),
                               concurrency, config_from_map({str(k): str(v)
                                                             for k, v in config.items()}))


def _ticks(recording: dict[str, Any]) -> list[dict[str, Any]]:
    ticks = recording.get("ticks")
    if not isinstance(ticks, list) or not all(isinstance(t, dict) for t in ticks):
        raise SpecError("ticks", "must be a list of {t, ready, stable, panic, reachable}")
    return ticks


def replay(recording: Any) -> Iterator[dict[str, Any]]:
    """One output line per recorded tick (raises SpecError naming a bad field)."""
    if not isinstance(recording, dict):
        raise SpecError("(json)", "must be an object with containerConcurrency, annotations, "
                                  "config and ticks")
    settings = _settings(recording)
    state = None
    for i, tick in enumerate(_ticks(recording)):
        field = f"ticks[{i}]"
        now = _number(tick, "t", field)
        ready = tick.get("ready")
        if isinstance(ready, bool) or not isinstance(ready, int) or ready < 0:
            raise SpecError(f"{field}.ready", f"must be an integer >= 0, got {ready!r}")
        reachable = tick.get("reachable", True)
        if not isinstance(reachable, bool):
            raise SpecError(f"{field}.reachable", f"must be true or false, got {reachable!r}")
        if state is None:  # created at the first tick, with its ready count
            state = initial_state(settings, ready, now)
        decision, state = decide(settings, state, stable=_number(tick, "stable", field),
                                 panic=_number(tick, "panic", field), ready=ready,
                                 reachable=reachable, now=now)
        yield {"t": tick["t"], "desired": decision.desired, "panic_mode": decision.panic,
               "excess_burst_capacity": decision.excess_burst_capacity}


def _read(path: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as error:
        raise SpecError(path, f"cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SpecError(path if path != "-" else "(stdin)", f"not valid JSON: {error}") from None


def run(args: argparse.Namespace) -> int:
    try:
        # Validate everything before the first line, so bad input prints nothing.
        lines = list(replay(_read(args.file)))
    except SpecError as error:
        print(f"sdserve autoscaler replay: {error}", file=sys.stderr)
        return EXIT_USAGE
    for line in lines:
        print(json.dumps(line))
    return 0
