"""Tables for the gateway's pure parts: balancer, affinity, routing, meter, headers, stats."""

from __future__ import annotations

import random

import pytest
from multidict import CIMultiDict

from sdserve.gateway import affinity
from sdserve.gateway.balancer import choose_replica
from sdserve.gateway.concurrency import ConcurrencyMeter
from sdserve.gateway.headers import (
    client_response_headers,
    end_to_end,
    request_id,
    upstream_request_headers,
)
from sdserve.gateway.routing import HostRouter, host_name
from sdserve.gateway.stats import LatencyHistogram, code_class
from sdserve.spec import CookieAffinity, ServiceSpec


@pytest.mark.parametrize(
    ("label", "candidates", "loads", "cc", "cursor", "want"),
    [
        ("cc 1: first free", ["a", "b", "c"], {}, 1, 0, ("a", 0)),
        ("cc 3: first free", ["b", "c"], {"a": 3}, 3, 5, ("b", 5)),
        ("cc 4: round robin", ["a", "b", "c"], {}, 4, 0, ("a", 1)),
        ("cc 4: round robin next", ["a", "b", "c"], {}, 4, 1, ("b", 2)),
        ("cc 4: wraps", ["a", "b", "c"], {}, 4, 3, ("a", 4)),
        ("cc 0: single", ["a"], {"a": 9}, 0, 0, ("a", 0)),
        ("cc 0: less loaded of two", ["a", "b"], {"a": 5, "b": 1}, 0, 0, ("b", 0)),
        ("cc 0: less loaded, other order", ["a", "b"], {"a": 1, "b": 5}, 0, 0, ("a", 0)),
    ],
)
def test_choose_replica(label, candidates, loads, cc, cursor, want):
    assert choose_replica(candidates, loads, cc, cursor=cursor, rng=random.Random(1)) == want


def test_choose_replica_needs_candidates():
    with pytest.raises(ValueError, match="candidates"):
        choose_replica([], {}, 1, cursor=0, rng=random.Random())


@pytest.mark.parametrize(
    ("label", "value", "service", "secret", "want"),
    [
        ("ours", affinity.sign("sd-1", service="sd", secret=b"k"), "sd", b"k", "sd-1"),
        ("other secret", affinity.sign("sd-1", service="sd", secret=b"x"), "sd", b"k", None),
        ("other service", affinity.sign("sd-1", service="xx", secret=b"k"), "sd", b"k", None),
        ("no dot", "c2QtMQ", "sd", b"k", None),
        ("bad base64", "!!!.???", "sd", b"k", None),
        ("an address", "http://127.0.0.1:1234", "sd", b"k", None),
        ("empty", "", "sd", b"k", None),
    ],
)
def test_verify_cookie(label, value, service, secret, want):
    assert affinity.verify(value, service=service, secret=secret) == want


def test_tampered_id_fails():
    value = affinity.sign("sd-1", service="sd", secret=b"k")
    _, mac = value.split(".")
    other = affinity.sign("sd-2", service="sd", secret=b"k").split(".")[0]
    assert affinity.verify(f"{other}.{mac}", service="sd", secret=b"k") is None


def test_set_cookie_header():
    assert affinity.set_cookie_header("v", CookieAffinity("sd", 1800)) == (
        "sd=v; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax"
    )


@pytest.mark.parametrize(
    ("header", "want"),
    [("a.b.c", "a.b.c"), ("A.B.C:8080", "a.b.c"), ("[::1]:80", "[::1]"), (None, ""), ("", "")],
)
def test_host_name(header, want):
    assert host_name(header) == want


def test_router_many_services():
    alpha, beta = ServiceSpec("alpha"), ServiceSpec("beta", namespace="ns")
    router = HostRouter([alpha, beta], domain="example.com")
    table = [
        ("alpha.default.example.com", alpha),
        ("beta.ns.example.com:80", beta),
        ("beta.default.example.com", None),
        ("127.0.0.1:8080", None),
    ]
    assert [(host, router.route(host)) for host, _ in table] == table


def test_router_single_service_takes_any_host():
    only = ServiceSpec("sd")
    assert HostRouter([only], domain="example.com").route("127.0.0.1:8080") is only


def test_router_rejects_duplicates_and_nothing():
    with pytest.raises(ValueError, match="services"):
        HostRouter([ServiceSpec("a"), ServiceSpec("a")], domain="d")
    with pytest.raises(ValueError, match="services"):
        HostRouter([], domain="d")


def test_meter_time_weighted():
    meter = ConcurrencyMeter(now=0.0)
    meter.change(+1, now=0.0)
    meter.change(+1, now=0.5)  # 1 for 0.5 s, then 2 for 0.5 s
    assert meter.average(now=1.0) == pytest.approx(1.5)
    meter.change(-2, now=1.25)  # 2 for 0.25 s, then 0 for 0.75 s
    assert meter.average(now=2.0) == pytest.approx(0.5)
    assert meter.average(now=3.0) == 0.0


def test_meter_same_instant_and_backwards_clock():
    meter = ConcurrencyMeter(now=10.0)
    meter.change(+3, now=10.0)
    assert meter.average(now=10.0) == 3.0
    meter.change(-1, now=9.0)  # a clock stepping back adds no negative area
    assert meter.level == 2
    assert meter.average(now=11.0) == pytest.approx(2.0)


def test_hop_by_hop_headers_are_dropped():
    given = CIMultiDict([("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"),
                         ("Keep-Alive", "5"), ("Transfer-Encoding", "chunked"),
                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "x")])
    assert list(end_to_end(given).items()) == [
        ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "x")
    ]


def test_forwarded_headers():
    out = upstream_request_headers(
        CIMultiDict([("X-Forwarded-For", "10.0.0.1"), ("Upgrade", "h2c")]),
        request_id="r", client_ip="127.0.0.1", scheme="http",
    )
    assert dict(out) == {"X-Forwarded-For": "10.0.0.1, 127.0.0.1", "X-Request-Id": "r",
                         "X-Forwarded-Proto": "http"}
    assert client_response_headers(CIMultiDict(), request_id="r")["X-Request-Id"] == "r"


def test_request_id_kept_or_made():
    assert request_id(CIMultiDict({"X-Request-Id": "abc"})) == "abc"
    for bad in ({}, {"X-Request-Id": ""}, {"X-Request-Id": "a\x01b"}):
        made = request_id(CIMultiDict(bad))
        assert len(made) == 32 and made.isalnum()


def test_latency_histogram_buckets():
    histogram = LatencyHistogram()
    for ms in (5, 5.1, 400_000):
        histogram.observe(ms)
    buckets = dict(histogram.cumulative())
    assert (buckets["5"], buckets["10"], buckets["300000"], buckets["+Inf"]) == (1, 2, 2, 3)
    assert [code_class(s) for s in (200, 503)] == ["2xx", "5xx"]
