from __future__ import annotations

import pytest

from sdserve.runtime.environment import replica_env, shared_env, thread_share


@pytest.mark.parametrize(
    ("cores", "max_replicas", "want"),
    [(2, 10, 1), (16, 4, 4), (16, 0, 1), (8, 3, 2), (1, 1, 1), (16, 1, 16)],
)
def test_thread_share(cores, max_replicas, want):
    assert thread_share(cores, max_replicas) == want


def test_layers_and_runtime_keys_win():
    env = replica_env(
        inherited={"HOME": "/home/x", "PORT": "1", "A": "ours"},
        container_env=[("A", "spec"), ("B", "spec")],
        extra={"B": "caller", "SDSERVE_DEVICE": "nope"},
        port=4321,
        device="cuda:1",
        threads=3,
    )
    assert env == {
        "HOME": "/home/x",
        "A": "spec",
        "B": "caller",
        "PORT": "4321",
        "SDSERVE_DEVICE": "cuda:1",
        "OMP_NUM_THREADS": "3",
        "SDSERVE_THREADS": "3",
    }


def test_explicit_thread_setting_wins():
    env = replica_env(inherited={"OMP_NUM_THREADS": "8"}, container_env=(), extra={},
                      port=1, device="cpu", threads=2)
    assert env["OMP_NUM_THREADS"] == "8"
    assert env["SDSERVE_THREADS"] == "2"


def test_a_standby_shares_everything_but_the_replica_own_keys():
    env = replica_env(inherited={"HOME": "/home/x"}, container_env=[("A", "spec")], extra={},
                      port=4321, device="cuda:1", threads=3)
    assert shared_env(env) == {
        "HOME": "/home/x", "A": "spec", "OMP_NUM_THREADS": "3", "SDSERVE_THREADS": "3",
    }
