"""Replica processes: spawned so that they can never outlive sdserve, stopped gently."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the
    parent dies, so that even `kill -9` of sdserve leaves no replica behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl took effect; then nobody would signal us.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


async def spawn(
    argv: Sequence[str], env: Mapping[str, str], *, piped: bool = False
) -> asyncio.subprocess.Process:
    """Start a replica in its own process group (so a terminal's Ctrl-C reaches only
    sdserve, which then drains it); stderr is inherited, so its errors show. stdout
    is inherited too, unless `piped`: then stdin and stdout are pipes to us (a standby
    talks through them, and we relay its stdout)."""
    preexec = None
    if sys.platform.startswith("linux"):
        parent = os.getpid()

        def preexec() -> None:
            _die_with_parent(parent)

    return await asyncio.create_subprocess_exec(
        *argv, env=dict(env),
        stdin=asyncio.subprocess.PIPE if piped else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if piped else None,
        start_new_session=True, preexec_fn=preexec,
    )


def signal_group(pid: int, signum: int) -> None:
    """Signal the replica and anything it started; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def stop(process: asyncio.subprocess.Process, grace_period: float) -> None:
    """SIGTERM (the worker finishes its requests and exits), SIGKILL after the grace."""
    signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_period)
    except asyncio.TimeoutError:
        signal_group(process.pid, signal.SIGKILL)
        await process.wait()
