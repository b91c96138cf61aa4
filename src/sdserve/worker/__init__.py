"""The replica: an AUTOMATIC1111-compatible API server over the engine."""

from sdserve.worker.app import create_app
from sdserve.worker.settings import WorkerSettings, resolve_settings

__all__ = ["WorkerSettings", "create_app", "resolve_settings"]
