"""The dashboard's pure JS helpers (metrics.js), run by Node on tables of cases."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from importlib import resources
from typing import Any

import pytest

NODE = shutil.which("node")
METRICS_JS = str(resources.files("sdserve.dashboard") / "metrics.js")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="the JS helper tests need Node (apt install nodejs)"
)

EXPOSITION = """\
# HELP revision_request_count_total requests
# TYPE revision_request_count_total counter
revision_request_count_total{service_name="sd",response_code="200",response_code_class="2xx"} 7.0
revision_request_count_total{service_name="sd",response_code="503",response_code_class="5xx"} 1.0
revision_request_count_total{service_name="other",response_code="200",response_code_class="2xx"} 100
revision_request_count{response_code="404"} 2
revision_request_latencies_bucket{service_name="sd",le="100.0"} 2.0
revision_request_latencies_bucket{service_name="sd",le="1000.0"} 6.0
revision_request_latencies_bucket{service_name="sd",le="+Inf"} 8.0
revision_request_latencies_sum{service_name="sd"} 4000
desired_pods{service_name="sd",note="a \\"quoted\\" value, {braces}"} 3 1700000000000
panic_mode{service_name="sd"} NaN
not a metric line
"""


def js(expression: str) -> Any:
    """Evaluate `expression` with the helpers bound as `M`; return its JSON value."""
    script = (
        f"const M = require({json.dumps(METRICS_JS)});"
        f"console.log(JSON.stringify({expression}));"
    )
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_parse_prometheus() -> None:
    samples = js(f"M.parsePrometheus({json.dumps(EXPOSITION)})")
    assert len(samples) == 10
    assert samples[0] == {
        "name": "revision_request_count_total",
        "labels": {"service_name": "sd", "response_code": "200", "response_code_class": "2xx"},
        "value": 7,
    }
    desired = samples[8]
    assert desired["labels"]["note"] == 'a "quoted" value, {braces}'
    assert desired["value"] == 3
    assert samples[9]["value"] is None  # NaN does not survive JSON


def test_summarize_one_service() -> None:
    summary = js(f"M.summarize(M.parsePrometheus({json.dumps(EXPOSITION)}), 'sd')")
    # Unlabelled series belong to any service; the class comes from the code if missing.
    assert summary["requests"] == {"2xx": 7, "3xx": 0, "4xx": 2, "5xx": 1}
    assert summary["buckets"] == [
        {"le": 100, "count": 2}, {"le": 1000, "count": 6}, {"le": None, "count": 8},
    ]
    assert summary["gauges"]["desired_pods"] == 3


BUCKETS = "[{le: 100, count: 2}, {le: 1000, count: 6}, {le: Infinity, count: 8}]"


@pytest.mark.parametrize(
    ("q", "buckets", "want"),
    [
        (0.5, BUCKETS, 100 + 900 * (4 - 2) / 4),  # rank 4 falls in (100, 1000]
        (0.25, BUCKETS, 100.0),                    # rank 2: the top of the first bucket
        (0.1, BUCKETS, 100 * 0.8 / 2),              # interpolated from 0
        (0.9, BUCKETS, 1000.0),                     # in +Inf: the highest finite bound
        (0.5, "[]", None),
        (0.5, "[{le: 100, count: 0}, {le: Infinity, count: 0}]", None),
    ],
)
def test_quantile_like_prometheus(q: float, buckets: str, want: float | None) -> None:
    got = js(f"M.quantile({q}, {buckets})")
    assert got == want if want is None else math.isclose(got, want)


def test_window_stats() -> None:
    before = "{requests: {'2xx': 10, '3xx': 0, '4xx': 0, '5xx': 0}, buckets: []}"
    now = ("{requests: {'2xx': 16, '3xx': 0, '4xx': 0, '5xx': 2}, "
           "buckets: [{le: 500, count: 4}, {le: Infinity, count: 8}]}")
    stats = js(f"M.windowStats({now}, {before}, 4)")
    assert stats["rate"] == {"2xx": 1.5, "3xx": 0, "4xx": 0, "5xx": 0.5}
    assert stats["successRate"] == 75
    assert stats["latency"]["p50"] == 500
    assert stats["latency"]["p99"] == 500


def test_window_stats_after_a_counter_reset_and_with_no_traffic() -> None:
    before = "{requests: {'2xx': 50}, buckets: [{le: Infinity, count: 50}]}"
    reset = "{requests: {'2xx': 3}, buckets: [{le: Infinity, count: 3}]}"
    assert js(f"M.windowStats({reset}, {before}, 3).rate")["2xx"] == 1
    idle = js(f"M.windowStats({before}, {before}, 2)")
    assert idle["successRate"] is None
    assert idle["latency"]["p50"] is None


@pytest.mark.parametrize(
    ("seconds", "want"),
    [("null", "-"), (-1, "-"), (45.9, "45s"), (133, "2m13s"), (600, "10m"),
     (3 * 3600 + 300, "3h5m"), (47 * 3600, "47h"), (52 * 3600, "2d4h"), (9 * 86400, "9d")],
)
def test_format_age_matches_sdserve_status(seconds: object, want: str) -> None:
    from sdserve.status import format_age

    assert js(f"M.formatAge({seconds})") == want
    assert format_age(None if seconds == "null" else float(seconds)) == want  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "want"),
    [("null", 50), ("[]", 50), ("['0', '250', '500']", 50), ("['0', null, '5,000']", 5 * 7 + 16),
     ("['0', '10,000', '20,000']", 6 * 7 + 16), ("['0', '1,000,000']", 9 * 7 + 16)],
)
def test_y_axis_is_wide_enough_for_its_longest_label(labels: str, want: int) -> None:
    """The latency chart's "10,000" used to be clipped to "0,000" by a fixed 50 px axis."""
    assert js(f"M.axisWidth({labels})") == want
