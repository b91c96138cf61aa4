"""The running job as /sdapi/v1/progress sees it, and the flags that stop it.

The engine thread writes `latest` (one immutable `Progress`, so a reader never
sees half an update); the event loop reads it and sets the interrupt/skip flags.
`progress_report` is pure: the state and `now` in, the webui's numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdserve.engine.types import Progress


@dataclass
class JobState:
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    started_at: float = 0.0  # time.time() at the start, for the ETA
    interrupted: bool = False
    skipped: bool = False
    latest: Progress | None = None

    @property
    def active(self) -> bool:
        return self.job_count > 0

    def begin(self, job: str, job_count: int, *, now: float, timestamp: str) -> None:
        self.job, self.job_count, self.job_timestamp = job, job_count, timestamp
        self.started_at = now
        self.interrupted = self.skipped = False
        self.latest = None

    def record(self, progress: Progress) -> None:
        # Skip ends one batch: a report from the next batch clears it.
        if self.skipped and self.latest is not None and progress.job_no > self.latest.job_no:
            self.skipped = False
        self.latest = progress

    def end(self) -> None:
        self.job, self.job_count, self.latest = "", 0, None
        self.skipped = False

    def interrupt(self) -> None:
        if self.active:
            self.interrupted = True

    def skip(self) -> None:
        if self.active:
            self.skipped = True

    def steps_done(self) -> int:
        p = self.latest
        return 0 if p is None else p.job_no * p.sampling_steps + p.sampling_step


def progress_report(state: JobState, now: float) -> dict[str, Any]:
    """`progress` (0..1), `eta_relative` (s) and `state`, computed as the webui does."""
    p = state.latest
    snapshot = {
        "skipped": state.skipped,
        "interrupted": state.interrupted,
        "stopping_generation": False,
        "job": state.job,
        "job_count": state.job_count,
        "job_timestamp": state.job_timestamp,
        "job_no": p.job_no if p else 0,
        "sampling_step": p.sampling_step if p else 0,
        "sampling_steps": p.sampling_steps if p else 0,
    }
    if not state.active:
        return {"progress": 0.0, "eta_relative": 0.0, "state": snapshot, "textinfo": None}
    # The webui starts at 1 % so that the ETA is defined before the first step.
    progress = 0.01
    if p is not None:
        progress += p.job_no / state.job_count
        if p.sampling_steps > 0:
            progress += p.sampling_step / p.sampling_steps / state.job_count
    elapsed = max(0.0, now - state.started_at)
    eta_relative = elapsed / progress - elapsed
    textinfo = f"Step {snapshot['sampling_step']}/{snapshot['sampling_steps']}" if p else None
    return {
        "progress": min(progress, 1.0),
        "eta_relative": eta_relative,
        "state": snapshot,
        "textinfo": textinfo,
    }
