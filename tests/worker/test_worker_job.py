"""The progress arithmetic and the interrupt/skip flags, without a server."""

from __future__ import annotations

import pytest

from sdserve.engine.types import Progress
from sdserve.worker.job import JobState, progress_report


def test_idle_reports_zero():
    report = progress_report(JobState(), now=100.0)
    assert report["progress"] == 0.0
    assert report["eta_relative"] == 0.0
    assert report["state"]["job_count"] == 0


def test_before_the_first_step_progress_is_one_percent():
    job = JobState()
    job.begin("txt2img", 2, now=100.0, timestamp="20240101000000")
    report = progress_report(job, now=101.0)
    assert report["progress"] == pytest.approx(0.01)
    assert report["state"]["job"] == "txt2img"
    assert report["state"]["job_timestamp"] == "20240101000000"


def test_progress_counts_batches_and_steps():
    job = JobState()
    job.begin("txt2img", 2, now=100.0, timestamp="t")
    job.record(Progress(job_no=1, job_count=2, sampling_step=5, sampling_steps=10))
    report = progress_report(job, now=110.0)
    # 1 % + one of two batches done + half of the second
    assert report["progress"] == pytest.approx(0.01 + 0.5 + 0.25)
    # 10 s for 76 %: about 3.16 s left
    assert report["eta_relative"] == pytest.approx(10 / 0.76 - 10)
    assert report["state"]["sampling_step"] == 5
    assert report["textinfo"] == "Step 5/10"
    assert job.steps_done() == 15


def test_interrupt_and_skip_only_touch_a_running_job():
    job = JobState()
    job.interrupt()
    job.skip()
    assert not job.interrupted and not job.skipped
    job.begin("txt2img", 3, now=0.0, timestamp="t")
    job.interrupt()
    assert job.interrupted


def test_skip_lasts_until_the_next_batch_reports():
    job = JobState()
    job.begin("txt2img", 3, now=0.0, timestamp="t")
    job.record(Progress(job_no=0, job_count=3, sampling_step=2, sampling_steps=10))
    job.skip()
    job.record(Progress(job_no=0, job_count=3, sampling_step=3, sampling_steps=10))
    assert job.skipped
    job.record(Progress(job_no=1, job_count=3, sampling_step=1, sampling_steps=10))
    assert not job.skipped


def test_begin_clears_the_last_jobs_flags():
    job = JobState()
    job.begin("txt2img", 1, now=0.0, timestamp="t")
    job.interrupt()
    job.end()
    job.begin("img2img", 1, now=1.0, timestamp="u")
    assert not job.interrupted
    assert job.latest is None
