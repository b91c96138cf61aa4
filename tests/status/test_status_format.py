"""`sdserve status` formatting: status dict in, text out."""

from __future__ import annotations

import pytest

from sdserve.status import format_age, format_status, format_table, standby_cell

STATUS = {
    "services": [
        {
            "name": "stable-diffusion",
            "namespace": "default",
            "host": "stable-diffusion.default.example.com",
            "desired": 2,
            "ready": 1,
            "panic": True,
            "queue": 3,
            "stable_concurrency": 1.5,
            "panic_concurrency": 2.0,
            "target": 1.0,
            "standby": {"state": "ready", "pid": 4300},
            "replicas": [
                {"id": "stable-diffusion-3f9a1c", "state": "ready", "device": "cpu",
                 "in_flight": 1, "started_at": 10.0, "uptime": 133.4, "pid": 4242},
                {"id": "stable-diffusion-77aa01", "state": "starting", "device": "cuda:1",
                 "in_flight": 0, "started_at": 140.0, "uptime": 3.9, "pid": 4243},
            ],
        }
    ]
}


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (None, "-"),
        (-1, "-"),
        (0, "0s"),
        (45.9, "45s"),
        (119, "119s"),
        (120, "2m"),
        (133, "2m13s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (52 * 3600, "2d4h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
    ],
)
def test_format_age_reads_like_kubectl(seconds: float | None, want: str) -> None:
    assert format_age(seconds) == want


def test_format_table_aligns_columns_without_trailing_spaces() -> None:
    text = format_table(("NAME", "STATE"), [["a-long-name", "ready"], ["b", "x"]])
    assert text.splitlines() == [
        "NAME          STATE",
        "a-long-name   ready",
        "b             x",
    ]


def test_format_table_with_no_rows_is_the_header() -> None:
    assert format_table(("NAME", "AGE"), []) == "NAME   AGE"


def test_format_status_shows_services_then_their_replicas() -> None:
    assert format_status(STATUS) == (
        "NAME               HOST                                   "
        "DESIRED   READY   PANIC   QUEUE   STANDBY\n"
        "stable-diffusion   stable-diffusion.default.example.com   "
        "2         1       true    3       ready\n"
        "\n"
        "Replicas of stable-diffusion:\n"
        "NAME                      STATE      DEVICE   IN-FLIGHT   AGE\n"
        "stable-diffusion-3f9a1c   ready      cpu      1           2m13s\n"
        "stable-diffusion-77aa01   starting   cuda:1   0           3s\n"
    )


def test_format_status_scaled_to_zero() -> None:
    service = {**STATUS["services"][0], "desired": 0, "ready": 0, "panic": False,
               "queue": 0, "replicas": []}
    text = format_status({"services": [service]})
    assert "stable-diffusion   stable-diffusion.default.example.com   0" in text
    assert text.endswith("Replicas of stable-diffusion:\nNo replicas (scaled to zero).\n")


def test_format_status_several_services() -> None:
    other = {"name": "sdxl", "host": "sdxl.default.example.com", "desired": 1, "ready": 1,
             "panic": False, "queue": 0,
             "replicas": [{"id": "sdxl-1", "state": "draining", "device": "cpu",
                           "in_flight": 0, "uptime": 7200}]}
    text = format_status({"services": [*STATUS["services"], other]})
    lines = text.splitlines()
    assert lines[1].startswith("stable-diffusion ")
    assert lines[2].startswith("sdxl ")
    assert "Replicas of sdxl:" in lines
    assert lines[-1].split() == ["sdxl-1", "draining", "cpu", "0", "120m"]


def test_format_status_fills_missing_fields_with_a_dash() -> None:
    text = format_status({"services": [{"name": "s", "replicas": [{"id": "r"}]}]})
    assert text.splitlines()[1].split() == ["s", "-", "-", "-", "-", "-", "-"]
    assert text.splitlines()[-1].split() == ["r", "-", "-", "-", "-"]


def test_format_status_without_services() -> None:
    assert format_status({"services": []}) == "No services.\n"
    assert format_status({}) == "No services.\n"


@pytest.mark.parametrize(
    ("standby", "want"),
    [
        ({"state": "ready", "pid": 4300}, "ready"),
        ({"state": "starting", "pid": 4301}, "starting"),
        ({"state": "none", "pid": None}, "none"),
        ({"state": "disabled", "pid": None}, "disabled"),
        ({}, "-"),  # a state-less object
        (None, "-"),  # a gateway that predates the standby field
        ("ready", "-"),  # not an object
    ],
)
def test_standby_cell_is_the_state_or_a_dash(standby: object, want: str) -> None:
    assert standby_cell(standby) == want
