"""The environment a replica process starts with."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# What the runtime sets per replica, at spawn or at a standby's hand-over.
PER_REPLICA = ("PORT", "SDSERVE_DEVICE")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_share(cores: int, max_replicas: int) -> int:
    """CPU threads per replica so that a full set of replicas does not oversubscribe
    the cores; with no max scale (0 = unlimited) every core may host a replica."""
    replicas = max_replicas if max_replicas > 0 else cores
    return max(1, cores // max(1, replicas))


def replica_env(
    *,
    inherited: Mapping[str, str],
    container_env: Iterable[tuple[str, str]],
    extra: Mapping[str, str],
    port: int,
    device: str,
    threads: int,
) -> dict[str, str]:
    """Our environment, then the Service's container env, then the caller's extras.

    The thread share is a default that an explicit setting overrides; PORT and
    SDSERVE_DEVICE are the runtime's own and always win.
    """
    env = {"OMP_NUM_THREADS": str(threads), "SDSERVE_THREADS": str(threads)}
    env.update(inherited)
    env.update(container_env)
    env.update(extra)
    env["PORT"] = str(port)
    env["SDSERVE_DEVICE"] = device
    return env


def shared_env(env: Mapping[str, str]) -> dict[str, str]:
    """A replica's environment less what is its own: what a standby starts with, so
    that whatever its imports read is what the replica it becomes would have read."""
    return {name: value for name, value in env.items() if name not in PER_REPLICA}
