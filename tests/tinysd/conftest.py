"""The worker tests' real in-process worker (the default model), shared here."""

from tests.worker.conftest import base_url, client  # noqa: F401 (fixtures)
