"""A warm standby: one worker process started ahead of need, handed a replica
identity when the replica set wants a new replica.

Knative has no such thing. On a cluster the same start-up cost is cut by a node
that already holds the image and a pod kept warm; this is our local runtime's
equivalent. The standby has imported torch, diffusers and the worker (seconds of
a cold start) but loads no model and listens nowhere; given its port and
environment (`sdserve worker --standby`, see worker/standby.py) it becomes an
ordinary replica, so a scale from zero pays only the weight load.

Its stdin and stdout are pipes to us: the hand-over goes down stdin, and the
"ready" line and then the replica's log come up stdout, which we relay to ours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from sdserve.runtime import process
from sdserve.runtime.backoff import restart_delay
from sdserve.runtime.replica import StandbySnapshot, StandbyState

log = logging.getLogger(__name__)

# The line `sdserve worker --standby` prints once it is warm (worker/standby.py).
READY_LINE = b"ready"
# An idle standby has nothing to finish; SIGTERM ends it at once.
STOP_GRACE = 5.0


async def relay(stream: asyncio.StreamReader) -> None:
    """Copy a child's output to our stdout, line by line, until it closes."""
    while line := await stream.readline():
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()


async def until_ready(stream: asyncio.StreamReader) -> bool:
    """Relay output until the ready line; False when the output ends first."""
    while line := await stream.readline():
        if line.strip() == READY_LINE:
            return True
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()
    return False


class Standby:
    """Keeps one standby process of `command` started.

    `keep(env)` (re)starts it when missing, after a back-off when the last one died;
    `hand_over()` turns a ready one into a replica at once, or returns None so that
    the caller starts cold: a replica start never waits for a standby.
    `on_change` is called when it becomes ready or dies.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        on_change: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._command = list(command)
        self._on_change = on_change
        self._clock = clock
        self._process: asyncio.subprocess.Process | None = None  # starting or ready
        self._ready = False
        self._failures = 0  # in a row, reset when one gets ready
        self._not_before = 0.0
        self._closing = False
        # One per process we started: it relays the output, and notices a standby's death.
        self._watches: set[asyncio.Task[None]] = set()

    @property
    def snapshot(self) -> StandbySnapshot:
        """What /-/status shows: starting or ready with its pid, or none."""
        if self._process is None:
            return StandbySnapshot(StandbyState.NONE)
        state = StandbyState.READY if self._ready else StandbyState.STARTING
        return StandbySnapshot(state, self._process.pid)

    async def keep(self, env: Mapping[str, str]) -> float | None:
        """Start a standby under `env` if none is starting or ready; returns the seconds
        until a back-off ends, when one holds the start back."""
        if self._closing or self._process is not None:
            return None
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        try:
            proc = await process.spawn(self._command, env, piped=True)
        except OSError as error:
            log.error("cannot start a standby %s: %s", self._command, error)
            self._record_failure()
            return self._not_before - self._clock()
        self._process, self._ready = proc, False
        watch = asyncio.create_task(self._watch(proc))
        self._watches.add(watch)
        watch.add_done_callback(self._watches.discard)
        return None

    async def hand_over(
        self, port: int, env: Mapping[str, str], replica_id: str
    ) -> asyncio.subprocess.Process | None:
        """Make the ready standby the replica `replica_id`; None when none is ready."""
        proc = self._process
        if proc is None or not self._ready or proc.returncode is not None:
            return None
        assert proc.stdin is not None  # spawned piped
        # From here on it is not ours to keep: it is a replica, or it is dead.
        self._process, self._ready = None, False
        message = {"port": port, "env": dict(env), "replica": replica_id}
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            log.warning("standby %d died at hand-over; starting %s cold", proc.pid, replica_id)
            process.signal_group(proc.pid, signal.SIGKILL)
            self._record_failure()
            return None
        return proc

    async def close(self) -> None:
        """Stop the idle standby; returns once every process we started has closed its
        output (call it after the replicas it became have stopped)."""
        self._closing = True
        if self._process is not None:
            await process.stop(self._process, STOP_GRACE)
        await asyncio.gather(*self._watches)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None  # spawned piped
        if await until_ready(proc.stdout) and proc is self._process:
            self._ready = True
            self._failures = 0
            self._on_change()
        # Until the process ends, as a standby or as the replica it became.
        await relay(proc.stdout)
        if proc is not self._process:
            return
        # It died still a standby.
        returncode = await proc.wait()
        process.signal_group(proc.pid, signal.SIGKILL)
        self._process, self._ready = None, False
        if not self._closing:
            log.warning("standby %d exited unexpectedly (code %s)", proc.pid, returncode)
            self._record_failure()
        self._on_change()

    def _record_failure(self) -> None:
        self._failures += 1
        self._not_before = self._clock() + restart_delay(self._failures)
