"""SDSERVE_THREADS (the runtime's share of the cores) sets the engine's torch threads."""

import pytest

from sdserve.worker.engine_host import threads_from


def test_threads_from_environment():
    assert threads_from({"SDSERVE_THREADS": "3"}) == 3
    assert threads_from({}) is None
    assert threads_from({"SDSERVE_THREADS": ""}) is None


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_bad_thread_count_names_the_variable(raw):
    with pytest.raises(ValueError, match="SDSERVE_THREADS"):
        threads_from({"SDSERVE_THREADS": raw})
