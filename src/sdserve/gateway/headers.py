"""Header rewriting at the proxy: hop-by-hop headers, X-Forwarded-*, X-Request-Id.

Pure functions over header multimaps (RFC 9110 §7.6.1: hop-by-hop headers,
and every header the Connection header names, are for one connection only).
"""

from __future__ import annotations

import uuid

from multidict import CIMultiDict, CIMultiDictProxy

REQUEST_ID = "X-Request-Id"

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

Headers = CIMultiDict[str] | CIMultiDictProxy[str]


def end_to_end(headers: Headers) -> CIMultiDict[str]:
    """A copy without hop-by-hop headers (nor those listed in Connection)."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    drop = HOP_BY_HOP | named
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def request_id(headers: Headers) -> str:
    """The client's X-Request-Id when it sent a sane one, else a new one."""
    given = headers.get(REQUEST_ID, "")
    if 0 < len(given) <= 200 and given.isprintable():
        return given
    return uuid.uuid4().hex


def upstream_request_headers(
    headers: Headers, *, request_id: str, client_ip: str | None, scheme: str
) -> CIMultiDict[str]:
    out = end_to_end(headers)
    out[REQUEST_ID] = request_id
    if client_ip:
        previous = out.get("X-Forwarded-For")
        out["X-Forwarded-For"] = f"{previous}, {client_ip}" if previous else client_ip
    out.setdefault("X-Forwarded-Proto", scheme)
    return out


def client_response_headers(headers: Headers, *, request_id: str) -> CIMultiDict[str]:
    out = end_to_end(headers)
    out.setdefault(REQUEST_ID, request_id)
    return out
