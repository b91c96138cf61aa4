"""The `/-/status` document built from views: the standby of each service."""

from __future__ import annotations

import pytest

from sdserve.gateway.gateway import Gateway
from sdserve.gateway.stats import RequestStats
from sdserve.gateway.views import ServiceView, status_document
from sdserve.runtime.replica import STANDBY_DISABLED, StandbySnapshot, StandbyState
from sdserve.spec import ServiceSpec
from tests.gateway.conftest import SECRET, StaticScaleStatus, spec


def view(**given: object) -> ServiceView:
    values: dict[str, object] = {
        "spec": ServiceSpec(name="sd", container_concurrency=1),
        "host": "sd.default.example.com",
        "replicas": (),
        "queue": 0,
        "concurrency": 0,
        "scale": {"desired": 0, "panic": False},
        "stats": RequestStats(),
    }
    return ServiceView(**{**values, **given})


@pytest.mark.parametrize(
    ("standby", "want"),
    [
        (StandbySnapshot(StandbyState.READY, 4300), {"state": "ready", "pid": 4300}),
        (StandbySnapshot(StandbyState.STARTING, 4301), {"state": "starting", "pid": 4301}),
        (StandbySnapshot(StandbyState.NONE), {"state": "none", "pid": None}),
        (STANDBY_DISABLED, {"state": "disabled", "pid": None}),
    ],
)
def test_each_service_reports_its_standby(standby: StandbySnapshot, want: dict) -> None:
    (service,) = status_document([view(standby=standby)], now=0.0)["services"]
    assert service["standby"] == want


def test_a_view_without_a_standby_reports_it_disabled() -> None:
    (service,) = status_document([view()], now=0.0)["services"]
    assert service["standby"] == {"state": "disabled", "pid": None}


def test_the_gateway_asks_the_runtime_for_each_services_standby() -> None:
    standbys = {"a": StandbySnapshot(StandbyState.READY, 7),
                "b": StandbySnapshot(StandbyState.NONE)}
    gateway = Gateway([spec("a"), spec("b")], secret=SECRET, poke=lambda service: None,
                      scale_status=StaticScaleStatus(), standby=standbys.__getitem__)
    assert {v.spec.name: v.standby for v in gateway.views()} == standbys
