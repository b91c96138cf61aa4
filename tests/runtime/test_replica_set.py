"""ReplicaSet end to end: real child processes running the sleep worker double."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from sdserve.runtime import ReplicaSet
from sdserve.spec.types import Autoscaling, Container, Probe
from tests.runtime.conftest import (
    DRAINING,
    PATIENCE,
    READY,
    SLEEP_WORKER,
    STARTING,
    STOPPED,
    gone,
    service,
    until_gone,
)

pytestmark = pytest.mark.slow


async def first_answer(session: aiohttp.ClientSession, url: str) -> int:
    while True:
        try:
            async with session.get(url) as response:
                return response.status
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)


async def test_scale_0_3_1_0_publishes_states_in_order(make_set, watcher):
    replica_set = make_set()
    await replica_set.scale(3)
    await watcher.until(lambda: watcher.count(READY) == 3)
    assert len(replica_set.replicas) == 3
    assert len({r.url for r in replica_set.replicas}) == 3
    assert {r.device for r in replica_set.replicas} == {"cpu"}

    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(STOPPED) == 2)
    assert [r.state for r in replica_set.replicas] == [READY]

    await replica_set.scale(0)
    await watcher.until(lambda: watcher.count(STOPPED) == 3)
    assert replica_set.replicas == []
    for replica_id in watcher.ids():
        assert watcher.states(replica_id) == [STARTING, READY, DRAINING, STOPPED]


ENV_DUMPING_WORKER = (
    "import json, os, sys;"
    "open(os.path.join(sys.argv[1], os.environ['PORT']), 'w').write(json.dumps(dict(os.environ)));"
    "from sdserve.testing.sleep_worker import main; main([])"
)


async def test_replicas_get_port_device_threads_and_container_env(make_set, watcher, tmp_path):
    spec = dataclasses.replace(
        service(),
        autoscaling=Autoscaling(max_scale=2),
        container=Container(port=7860, env=(("HF_HUB_OFFLINE", "1"),)),
    )
    replica_set = make_set(
        spec=spec, command=[sys.executable, "-c", ENV_DUMPING_WORKER, str(tmp_path)],
        env={"SDSERVE_MODEL": "tiny"}, devices=("cuda:0", "cuda:1"), cores=4,
    )
    await replica_set.scale(2)
    await watcher.until(lambda: watcher.count(READY) == 2)
    for replica in replica_set.replicas:
        port = replica.url.rsplit(":", 1)[1]
        env = json.loads((tmp_path / port).read_text())
        assert env["SDSERVE_DEVICE"] == replica.device
        assert env["SDSERVE_MODEL"] == "tiny"
        assert env["HF_HUB_OFFLINE"] == "1"
        assert env["SDSERVE_THREADS"] == "2"  # 4 cores shared by at most 2 replicas
    assert sorted(r.device for r in replica_set.replicas) == ["cuda:0", "cuda:1"]


async def test_ready_waits_for_healthz_after_the_port_opens(make_set, watcher):
    replica_set = make_set(command=[*SLEEP_WORKER, "--load-seconds", "1.5"])
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(STARTING) == 1)
    (replica,) = replica_set.replicas
    async with aiohttp.ClientSession() as session:
        status = await asyncio.wait_for(first_answer(session, f"{replica.url}/healthz"), PATIENCE)
    # The port answers, the model is still "loading": not ready yet.
    assert status == 503
    assert watcher.states(replica.id) == [STARTING]
    await watcher.until(lambda: watcher.count(READY) == 1)


async def test_replica_never_ready_is_replaced_after_the_progress_deadline(
    make_set, watcher, caplog
):
    spec = dataclasses.replace(service(), progress_deadline=1.0)
    # /healthz answers 503 for ten minutes: the model never finishes loading.
    replica_set = make_set(spec=spec, command=[*SLEEP_WORKER, "--load-seconds", "600"])
    await replica_set.scale(1)
    await watcher.until(lambda: sum(r.state is STARTING for r in watcher.events) == 2)
    first, second = (r for r in watcher.events if r.state is STARTING)
    await watcher.until(lambda: watcher.latest()[first.id].state is STOPPED)
    assert watcher.states(first.id) == [STARTING, DRAINING, STOPPED]
    # The deadline, then the first step of the crash back-off (1 s).
    assert second.started_at - first.started_at >= 1.0 + 1.0
    assert (f"replica {first.id} did not become ready within the progress deadline (1s"
            in caplog.text)
    await until_gone([first.pid])


async def test_killed_replica_is_stopped_and_replaced(make_set, watcher):
    replica_set = make_set()
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (first,) = replica_set.replicas
    os.kill(first.pid, signal.SIGKILL)
    await watcher.until(lambda: watcher.latest()[first.id].state is STOPPED)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (second,) = replica_set.replicas
    assert second.id != first.id
    assert watcher.states(first.id) == [STARTING, READY, STOPPED]


async def test_replica_that_stops_answering_is_killed_and_replaced(make_set, watcher):
    probe = Probe(kind="http", path="/healthz", period=0.2, timeout=0.2, failure_threshold=2)
    replica_set = make_set(spec=service(probe))
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (frozen,) = replica_set.replicas
    os.kill(frozen.pid, signal.SIGSTOP)
    await watcher.until(lambda: watcher.latest()[frozen.id].state is STOPPED)
    await watcher.until(lambda: watcher.count(READY) == 1)
    await until_gone([frozen.pid])


async def test_drain_waits_for_in_flight_work(make_set, watcher):
    replica_set = make_set()
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (replica,) = replica_set.replicas
    async with aiohttp.ClientSession() as session:
        # The gateway would count this request against the replica.
        watcher.load[replica.id] = 1
        request = asyncio.ensure_future(
            session.post(f"{replica.url}/sdapi/v1/txt2img", json={"sleep": 1.0})
        )
        await asyncio.sleep(0.2)
        await replica_set.scale(0)
        await watcher.until(lambda: watcher.latest()[replica.id].state is DRAINING)
        # Knative: a draining pod is gone; a new scale-up starts a fresh replica.
        await replica_set.scale(1)
        await watcher.until(lambda: watcher.count(READY) == 1)
        response = await request
        assert response.status == 200
        response.release()
        assert watcher.latest()[replica.id].state is DRAINING
        watcher.load[replica.id] = 0
        await watcher.until(lambda: watcher.latest()[replica.id].state is STOPPED)
    assert watcher.states(replica.id) == [STARTING, READY, DRAINING, STOPPED]
    assert len(replica_set.replicas) == 1


async def test_drain_is_bounded_by_the_request_timeout(make_set, watcher):
    replica_set = make_set(spec=service(timeout_seconds=0.5))
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    (replica,) = replica_set.replicas
    watcher.load[replica.id] = 1  # never finishes, as far as the runtime can tell
    await replica_set.scale(0)
    await watcher.until(lambda: watcher.latest()[replica.id].state is STOPPED)


async def test_close_leaves_no_child_process(make_set, watcher):
    replica_set = make_set(command=[*SLEEP_WORKER, "--load-seconds", "600"])
    await replica_set.scale(2)
    await watcher.until(lambda: watcher.count(STARTING) == 2)
    ready = ReplicaSet(service(), command=SLEEP_WORKER, on_change=watcher.on_change,
                       in_flight=watcher.in_flight)
    await ready.scale(1)
    await watcher.until(lambda: watcher.count(READY) == 1)
    pids = [r.pid for r in replica_set.replicas + ready.replicas]
    await replica_set.close()
    await ready.close()
    assert all(gone(pid) for pid in pids)
    assert replica_set.replicas == [] and ready.replicas == []
    # A closed set starts nothing more.
    await ready.scale(3)
    assert ready.replicas == []


PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from sdserve.runtime import ReplicaSet
    from sdserve.spec.types import ServiceSpec

    async def main():
        ready = asyncio.Event()
        replica_set = ReplicaSet(
            ServiceSpec(name="sd"), command=[sys.executable, "-m", "sdserve.testing.sleep_worker"],
            on_change=lambda r: ready.set() if r.state.value == "ready" else None,
            in_flight=lambda replica_id: 0,
        )
        await replica_set.scale(2)
        while sum(r.state.value == "ready" for r in replica_set.replicas) < 2:
            await ready.wait()
            ready.clear()
        print(" ".join(str(r.pid) for r in replica_set.replicas), flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_parent_killed_with_sigkill_leaves_no_orphans(tmp_path: Path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), PATIENCE)
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2 and not any(gone(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    await until_gone(pids)


async def test_command_that_exits_at_once_backs_off(make_set, watcher):
    replica_set = make_set(command=[sys.executable, "-c", "raise SystemExit(3)"])
    await replica_set.scale(1)
    await watcher.until(lambda: watcher.count(STOPPED) == 2)
    # Restarts 1 s then 2 s apart: a busy loop would have made dozens by now.
    await asyncio.sleep(1.0)
    starts = [r for r in watcher.events if r.state is STARTING]
    assert 2 <= len(starts) <= 3
    assert starts[1].started_at - starts[0].started_at >= 1.0


async def test_missing_program_backs_off_without_replicas(make_set, watcher, tmp_path):
    replica_set = make_set(command=[str(tmp_path / "no-such-program")])
    await replica_set.scale(1)
    await asyncio.sleep(0.3)
    assert replica_set.replicas == []
    assert watcher.events == []


async def test_bad_input_names_the_field(make_set):
    with pytest.raises(ValueError, match="command"):
        ReplicaSet(service(), command=[], on_change=print, in_flight=len)
    with pytest.raises(ValueError, match="desired"):
        await make_set().scale(-1)
