"""deploy/grafana/sdserve-dashboard.json: it loads, its panels are complete, and every
PromQL expression reads metrics that a real gateway's /-/metrics exports."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sdserve.gateway import Gateway
from sdserve.spec.types import ServiceSpec

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "sdserve-dashboard.json"
# Knative's names, as the gateway contract lists them: the dashboard must show each.
CONTRACT = {
    "revision_request_count", "revision_request_latencies", "desired_pods", "actual_pods",
    "not_ready_pods", "terminating_pods", "stable_request_concurrency",
    "panic_request_concurrency", "target_concurrency_per_pod", "excess_burst_capacity",
    "panic_mode",
}
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class NoScaling:
    def status(self, service: str) -> Mapping[str, Any]:
        return {"desired": 1, "panic": False, "stable_concurrency": 0.0,
                "panic_concurrency": 0.0, "target": 1.0, "excess_burst_capacity": 0.0}


@pytest.fixture
async def exported() -> AsyncIterator[set[str]]:
    """Every metric and sample name a real gateway with one service exposes."""
    gateway = Gateway([ServiceSpec(name="stable-diffusion")], secret=b"test", poke=lambda s: None,
                      scale_status=NoScaling())
    runner = web.AppRunner(gateway.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/-/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
    finally:
        await runner.cleanup()
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    names |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", text, re.M))
    # A histogram's series are read as name_bucket, name_sum, name_count.
    names |= {f"{h}{s}" for h in re.findall(r"^# TYPE (\S+) histogram", text, re.M)
              for s in ("_bucket", "_sum", "_count")}
    yield names


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expressions() -> list[str]:
    doc = dashboard()
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return exprs


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: bare names and `__name__` regexes."""
    regexes = re.findall(r'__name__=~"([^"]+)"', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    # Grouping labels and label_values' label argument name labels, not metrics.
    text = re.sub(r"\b(?:by|without)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\blabel_values\(([^,)]*),[^)]*\)", r"(\1)", text)
    names = {m.group() for m in IDENTIFIER.finditer(text)
             if not text[m.end():].lstrip().startswith("(") and not m.group().startswith("$")}
    return names | {f"re:{r}" for r in regexes}


def test_dashboard_is_complete() -> None:
    doc = dashboard()
    assert doc["uid"] == "sdserve-knative"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["title"] and panel["gridPos"]["w"] > 0 and panel["targets"], panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}"
    titles = {p["title"] for p in doc["panels"]}
    assert {"Request rate by code class", "Success rate", "Request latency",
            "Concurrency against the target", "Replicas",
            "Requests waiting in the gateway"} <= titles


def test_metric_names_are_extracted() -> None:
    assert metric_names('sum by (le) (rate(x_bucket{a="b"}[1m])) / sum(y{c=~"$v"})') == {
        "x_bucket", "y"}
    assert metric_names('rate({__name__=~"a(_total)?", s="x"}[5m])') == {"re:a(_total)?"}
    assert metric_names('label_values(desired_pods{n=~"$n"}, service_name)') == {"desired_pods"}


def test_every_expression_reads_exported_metrics(exported: set[str]) -> None:
    used: set[str] = set()
    for expr in expressions():
        for name in metric_names(expr):
            if name.startswith("re:"):
                pattern = re.compile(name[3:])
                matched = {n for n in exported if pattern.fullmatch(n)}
                assert matched, f"{expr}: {name[3:]} matches no exported metric"
                used |= matched
            else:
                assert name in exported, f"{expr}: {name} is not exported by the gateway"
                used.add(name)
    shown = {n.removesuffix("_total").removesuffix("_bucket") for n in used}
    assert shown >= CONTRACT
