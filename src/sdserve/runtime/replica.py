"""What the runtime publishes about a replica; the gateway and autoscaler read it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReplicaState(str, enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Replica:
    """An immutable snapshot; the runtime publishes a new one on every change."""

    id: str  # opaque, unique for the life of the gateway, e.g. "stable-diffusion-3f9a1c"
    service: str
    url: str  # http://127.0.0.1:PORT, never shown to clients
    device: str  # "cpu", "cuda:0", ...
    state: ReplicaState
    started_at: float  # time.monotonic() when it was spawned, or handed over as a standby
    pid: int | None = None


class StandbyState(str, enum.Enum):
    DISABLED = "disabled"  # the service keeps no standby (off, or a custom worker command)
    NONE = "none"  # none now: held back after a hand-over, by a back-off, or at close
    STARTING = "starting"  # importing torch and the worker
    READY = "ready"  # warm: the next replica start takes it over


@dataclass(frozen=True)
class StandbySnapshot:
    """A service's warm standby as the runtime sees it now (see runtime/standby.py)."""

    state: StandbyState
    pid: int | None = None  # the standby process, while it is starting or ready


STANDBY_DISABLED = StandbySnapshot(StandbyState.DISABLED)
