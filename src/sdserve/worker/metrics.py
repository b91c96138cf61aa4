"""The worker's Prometheus metrics, in a registry of its own per app."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# From a tiny CPU model (well under a second) to a large batch on a slow GPU.
GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)


class WorkerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sdserve_worker_requests",
            "HTTP requests answered, by route template and status code",
            ["route", "code"],
            registry=r,
        )
        self.images = Counter(
            "sdserve_worker_images", "Images generated (txt2img and img2img)", registry=r
        )
        self.generation_seconds = Histogram(
            "sdserve_worker_generation_seconds",
            "Time a generation holds the engine, model switches included",
            buckets=GENERATION_BUCKETS,
            registry=r,
        )
        self.steps_per_second = Gauge(
            "sdserve_worker_sampling_steps_per_second",
            "Sampling steps per second of the last finished job",
            registry=r,
        )
        self.jobs_waiting = Gauge(
            "sdserve_worker_jobs_waiting", "Jobs waiting for the engine lock", registry=r
        )
        self.job_running = Gauge(
            "sdserve_worker_job_running", "1 while a job holds the engine", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
